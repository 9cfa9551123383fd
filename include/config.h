/*
 * Configuration: the options, their defaults, the config file (redis.conf-like `name value`
 * lines, `#` comments) and the command-line flags (`--name-with-dashes value`), flags
 * overriding the file. Validation names the bad option; the caller exits with status 2.
 * Runs only at startup; may use the process allocator (stdio) but keeps nothing from it.
 */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_assert.h"

enum config_hugepages {
    CONFIG_HUGEPAGES_AUTO, /* 1 GiB pages if enough are free, else 2 MiB, else normal pages */
    CONFIG_HUGEPAGES_1G,   /* 1 GiB pages, falling back with a warning when none are free */
    CONFIG_HUGEPAGES_2M,   /* 2 MiB pages, falling back with a warning when none are free */
    CONFIG_HUGEPAGES_OFF,  /* normal pages with MADV_HUGEPAGE */
};

enum config_mlock {
    CONFIG_MLOCK_AUTO,     /* lock the region; warn and go on when the kernel refuses */
    CONFIG_MLOCK_REQUIRED, /* lock the region or refuse to start */
    CONFIG_MLOCK_OFF,      /* never lock */
};

/* How the loop receives (loop_recv). */
enum config_loop_recv {
    CONFIG_LOOP_RECV_MULTISHOT, /* one multishot receive per client into a ring of provided
                                   buffers, copied into the client's buffer */
    CONFIG_LOOP_RECV_SINGLE,    /* one receive at a time, straight into the client's buffer */
};

/* Redis's maxmemory-policy values. */
enum config_policy {
    CONFIG_POLICY_NOEVICTION,
    CONFIG_POLICY_ALLKEYS_LRU,
    CONFIG_POLICY_VOLATILE_LRU,
    CONFIG_POLICY_ALLKEYS_LFU,
    CONFIG_POLICY_VOLATILE_LFU,
    CONFIG_POLICY_ALLKEYS_RANDOM,
    CONFIG_POLICY_VOLATILE_RANDOM,
    CONFIG_POLICY_VOLATILE_TTL,
    CONFIG_POLICY_COUNT,
};

/* The client classes of client-output-buffer-limit. */
enum config_client_class {
    CONFIG_CLIENT_NORMAL,
    CONFIG_CLIENT_REPLICA,
    CONFIG_CLIENT_PUBSUB,
    CONFIG_CLIENT_CLASS_COUNT,
};

/* One class's output limit: past `hard_bytes`, or past `soft_bytes` for longer than
 * soft_seconds, a client is closed (0: no limit). */
struct config_output_limit {
    uint64_t hard_bytes;
    uint64_t soft_bytes;
    uint32_t soft_seconds;
};

#define CONFIG_BIND_BYTES_MAX 64u
#define CONFIG_PATH_BYTES_MAX 4096u
#define CONFIG_PASSWORD_BYTES_MAX 512u

/* The budget's bounds: a heap smaller than 4 MiB cannot hold its own classes usefully; 32 GiB
 * is what 32-bit heap references address. */
#define CONFIG_MAXMEMORY_MIN (4ull << 20)
#define CONFIG_MAXMEMORY_MAX (32ull << 30)

/* Largest config file, read whole onto the stack. */
#define CONFIG_FILE_BYTES_MAX (32u * 1024u)

struct config {
    uint32_t port;                     /* TCP port, 1..65535 (0: any free port, for tests) */
    char bind[CONFIG_BIND_BYTES_MAX];  /* IPv4 address to listen on */
    uint32_t connections_max;          /* clients served at once */
    uint32_t key_count;                /* keys stored at once */
    uint32_t key_size_max;             /* bytes in the longest key */
    uint32_t val_size_max;             /* bytes in the longest value (string or list element) */
    uint32_t list_length_max;          /* elements in the longest list */
    enum config_hugepages hugepages;   /* page size policy for the region */
    enum config_mlock mlock;           /* locking policy for the region */
    uint32_t ring_entries;             /* io_uring SQ entries; 0: sized from the plan */
    char pidfile[CONFIG_PATH_BYTES_MAX]; /* file to write kv's PID into; empty: none */
    char requirepass[CONFIG_PASSWORD_BYTES_MAX]; /* AUTH password; empty: no AUTH needed */
    uint32_t expire_slice;             /* table slots active expiry examines per loop turn */
    uint32_t hz;                       /* timer ticks per second while keys have expiry times */
    uint32_t watch_keys_max;           /* (client, key) watches in all; 0: no cap */
    uint32_t blocking_keys_max;        /* (client, key) waits of blocked clients, in all;
                                          0: no cap */
    int32_t slowlog_log_slower_than;   /* µs; commands slower go to the slow log; -1: none */
    uint32_t timeout;                  /* s; clients idle longer are closed; 0: never */
    int32_t cpu;                       /* pin the loop thread to this CPU; -1: no pinning */
    uint32_t busy_poll_us;             /* µs to spin for completions before sleeping; 0: never */
    int32_t loop_min_wait_us;          /* the ring's min-wait: CONFIG_LOOP_MIN_WAIT_AUTO (the
                                          loop decides), _OFF, or µs on every wait */
    enum config_loop_recv loop_recv;   /* multishot receive into provided buffers, or single */
    uint32_t pubsub_channels_max;      /* channels and patterns with subscribers, in all;
                                          0: no cap */
    uint32_t subscriptions_max;        /* channels and patterns one connection may subscribe;
                                          0: no cap */
    uint32_t send_stall_seconds;       /* s; a client that takes no reply bytes for longer
                                          while one waits is closed; 0: never */
    int protected_mode;                /* 1: without requirepass, refuse non-loopback peers */
    uint64_t maxmemory;                /* bytes: the heap every key, value, collection and
                                          client buffer shares (Redis's name and units) */
    enum config_policy maxmemory_policy; /* what goes when the budget is full */
    uint64_t lua_heap_bytes;           /* bytes: the Lua heap scripts run in (a part of the
                                          region apart from the budget) */
    uint64_t busy_reply_threshold;     /* ms a script runs before other clients get -BUSY
                                          and may kill it (Redis's busy-reply-threshold, alias
                                          lua-time-limit); 0: never */
    uint32_t maxmemory_samples;        /* keys sampled per eviction */
    uint32_t maxmemory_eviction_tenacity; /* 0..100: how long eviction may go on per command */
    uint32_t lfu_log_factor;           /* LFU counter's logarithm factor */
    uint32_t lfu_decay_time;           /* minutes after which an idle key's LFU counter
                                          drops by one */
    uint64_t proto_max_bulk_len;       /* bytes: longest bulk argument */
    uint64_t client_query_buffer_limit;/* bytes: a client's pending input past this is closed */
    struct config_output_limit output_limits[CONFIG_CLIENT_CLASS_COUNT];
    uint64_t maxmemory_clients;        /* bytes of client buffers in all; 0: no limit */
    uint32_t maxmemory_clients_percent;/* when set (1..100): maxmemory_clients is this share
                                          of maxmemory */
    char config_file[CONFIG_PATH_BYTES_MAX]; /* --config's file (CONFIG REWRITE writes it);
                                          empty: none */
    bool plan_only;                    /* --plan: print the memory plan and exit */
    bool check_host;                   /* --check-host: print the host check and exit */
};

void config_defaults(struct config *config);

/*
 * Reads argv: `--config FILE` first (wherever it stands), then every other flag over it.
 * Returns 0, or -1 with a one-line message naming the option in `error`.
 * `--help` sets *help_wanted.
 */
KV_MUST_USE int config_parse_args(struct config *config, int argc, char **argv, bool *help_wanted,
                                  char *error, size_t error_bytes);

/* Sets one option by its config-file name ("key_count") from text. Returns 0 or -1 with a
 * message naming the option. */
KV_MUST_USE int config_set(struct config *config, const char *name, const char *value,
                           char *error, size_t error_bytes);

/* Names of the options whose values differ (at most names_max); returns how many. */
uint32_t config_changed(const struct config *running, const struct config *fresh,
                        const char **names, uint32_t names_max);

/* Whether an option (config-file name) exists, and whether it may change while kv serves. */
bool config_option_known(const char *name, bool *runtime);

/* Copies the runtime options that differ from `fresh` into `running` (CONFIG SET, SIGHUP);
 * returns how many changed, naming up to names_max of them. The others are left alone. */
uint32_t config_apply_runtime(struct config *running, const struct config *fresh,
                              const char **names, uint32_t names_max);

/* Writes the usage text. */
void config_usage(void);

/* Parses a size as Redis's memtoull does: digits and an optional unit (b, k, kb, m, mb, g, gb,
 * any case; k = 1000, kb = 1024). False when it is not one or overflows. */
KV_MUST_USE bool config_memory_parse(const char *text, uint64_t *bytes);

/* Redis's name of a policy ("allkeys-lru"). */
const char *config_policy_name(enum config_policy policy);

/* client-output-buffer-limit as Redis prints it: "normal 0 0 0 replica 268435456 ..." */
void config_output_limits_format(const struct config *config, char *text, size_t text_bytes);

const char *config_hugepages_name(enum config_hugepages hugepages);
const char *config_mlock_name(enum config_mlock mlock);
const char *config_loop_recv_name(enum config_loop_recv loop_recv);

/* loop_min_wait's encoding in loop_min_wait_us; a positive value pins the µs. */
#define CONFIG_LOOP_MIN_WAIT_AUTO (-1)
#define CONFIG_LOOP_MIN_WAIT_OFF 0
#define CONFIG_LOOP_MIN_WAIT_US_MAX 10000u

#endif
