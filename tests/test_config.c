/*
 * Proves that options come from defaults, the config file and flags in that order of
 * precedence, that every bad value is refused with a message naming the option, and that the
 * plan grows with each sizing option and refuses combinations it cannot plan. Runs the real
 * config and plan code on temporary files; no server.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "layout.h"
#include "plan.h"

static int parse(struct config *config, char *error, size_t error_bytes, int argc, char **argv)
{
    bool help = false;
    config_defaults(config);
    return config_parse_args(config, argc, argv, &help, error, error_bytes);
}

static void test_defaults(void)
{
    struct config config;
    char error[256];
    char *argv[] = {"kv"};
    CHECK(parse(&config, error, sizeof(error), 1, argv) == 0);
    CHECK(config.port == 6379);
    CHECK_STR(config.bind, "127.0.0.1");
    CHECK(config.connections_max == 10000); /* Redis's maxclients */
    /* The seed's caps are off: the budget (maxmemory, 256mb by default) is the limit. */
    CHECK(config.key_count == 0 && config.key_size_max == 0);
    CHECK(config.val_size_max == 0 && config.list_length_max == 0);
    CHECK(config.maxmemory == 256ull << 20);
    /* The registries' caps are off: the budget bounds watched keys, channels and waits. */
    CHECK(config.watch_keys_max == 0 && config.blocking_keys_max == 0);
    CHECK(config.pubsub_channels_max == 0 && config.subscriptions_max == 0);
    CHECK(config.hugepages == CONFIG_HUGEPAGES_AUTO);
    CHECK(config.mlock == CONFIG_MLOCK_AUTO);
    CHECK(!config.plan_only);
}

static void test_file_and_flags(void)
{
    char path[] = "/tmp/kv-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "# a comment\n\nport 7000\nkey_count 77\n  val_size_max   100  \n"
                        "hugepages off\nmlock \"required\"\nbind 127.0.0.2\n";
    CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct config config;
    char error[256];
    char *argv[] = {"kv", "--key-count", "88", "--config", path, "--list-length-max=9", "--plan"};
    CHECK(parse(&config, error, sizeof(error), 7, argv) == 0);
    CHECK(config.port == 7000);
    CHECK(config.key_count == 88); /* the flag wins over the file, wherever it stands */
    CHECK(config.val_size_max == 100);
    CHECK(config.list_length_max == 9);
    CHECK(config.hugepages == CONFIG_HUGEPAGES_OFF);
    CHECK(config.mlock == CONFIG_MLOCK_REQUIRED);
    CHECK_STR(config.bind, "127.0.0.2");
    CHECK(config.plan_only);
    unlink(path);
}

/* Each bad input must fail and name `option` in its message. */
static void check_refused(const char *option, int argc, char **argv)
{
    struct config config;
    char error[256] = "";
    CHECK(parse(&config, error, sizeof(error), argc, argv) != 0);
    if (strstr(error, option) == NULL) {
        fprintf(stderr, "  message \"%s\" does not name %s\n", error, option);
        CHECK(strstr(error, option) != NULL);
    }
}

static void test_bad_values(void)
{
    check_refused("key_count", 3, (char *[]){"kv", "--key-count", "2000000000"});
    check_refused("key_count", 3, (char *[]){"kv", "--key-count", "abc"});
    check_refused("key_count", 3, (char *[]){"kv", "--key-count", "-5"});
    check_refused("key_count", 3, (char *[]){"kv", "--key-count", "12x"});
    check_refused("key_count", 2, (char *[]){"kv", "--key-count"});
    check_refused("port", 3, (char *[]){"kv", "--port", "65536"});
    check_refused("port", 3, (char *[]){"kv", "--port", ""});
    check_refused("connections_max", 3, (char *[]){"kv", "--connections-max", "99999999999"});
    check_refused("val_size_max", 3, (char *[]){"kv", "--val-size-max", "0x10"});
    check_refused("key_size_max", 3, (char *[]){"kv", "--key-size-max", "1e3"});
    check_refused("list_length_max", 3, (char *[]){"kv", "--list-length-max", " 5"});
    check_refused("hugepages", 3, (char *[]){"kv", "--hugepages", "4k"});
    check_refused("mlock", 3, (char *[]){"kv", "--mlock", "yes"});
    check_refused("bind", 3, (char *[]){"kv", "--bind", "localhost"});
    check_refused("frobnicate", 3, (char *[]){"kv", "--frobnicate", "1"});
    check_refused("config", 3, (char *[]){"kv", "--config", "/nonexistent/kv.conf"});
    check_refused("-x", 2, (char *[]){"kv", "-x"});
}

static void test_bad_file(void)
{
    char path[] = "/tmp/kv-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "port 7000\nkey_count\n";
    CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
    close(fd);
    check_refused("key_count", 3, (char *[]){"kv", "--config", path});
    unlink(path);
}

/* A plan and the layout of its pools. */
struct sized {
    struct plan plan;
    struct layout layout;
};

static uint64_t plan_total(uint32_t connections_max, uint32_t key_count, uint32_t val_size_max,
                           uint32_t list_length_max, struct sized *sized)
{
    struct plan *plan = &sized->plan;
    struct layout *layout = &sized->layout;
    struct config config;
    char error[256];
    config_defaults(&config);
    config.connections_max = connections_max;
    config.key_count = key_count;
    config.val_size_max = val_size_max;
    config.list_length_max = list_length_max;
    CHECK(plan_compute(plan, &config, error, sizeof(error)) == 0);
    layout_compute(layout, &config, plan);
    uint64_t sum = 0;
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        /* The cluster bus's pool is 0 bytes without cluster-enabled yes. */
        CHECK(layout->pool_bytes[pool] > 0 || pool == LAYOUT_POOL_CLUSTER_BUS);
        sum += layout->pool_bytes[pool];
    }
    CHECK(layout->total_bytes >= sum);
    return layout->total_bytes;
}

static void test_plan(void)
{
    struct sized base;
    struct sized grown;
    uint64_t total = plan_total(1000, 0, 0, 0, &base);
    /* Keys, values and client buffers share the heap: maxmemory, whatever the caps. */
    CHECK(base.layout.pool_bytes[LAYOUT_POOL_HEAP] >= 256ull << 20);
    CHECK(base.layout.pool_bytes[LAYOUT_POOL_HEAP] < (256ull << 20) + (8ull << 20));
    /* Without caps an argument may be as long as proto-max-bulk-len, and a receive buffer
     * may grow to client-query-buffer-limit. */
    CHECK(base.plan.arg_bytes_max == 512u << 20 && base.plan.bulk_bytes_limit == 512ull << 20);
    CHECK(base.plan.recv_limit == 1u << 30);
    /* Connections cost slots outside the heap; the caps cost nothing up front. */
    CHECK(plan_total(2000, 0, 0, 0, &grown) > total);
    CHECK(grown.layout.pool_bytes[LAYOUT_POOL_CONNECTIONS] >
          base.layout.pool_bytes[LAYOUT_POOL_CONNECTIONS]);
    CHECK(plan_total(1000, 1000, 4096, 50, &grown) == total);
    CHECK(grown.layout.pool_bytes[LAYOUT_POOL_HEAP] == base.layout.pool_bytes[LAYOUT_POOL_HEAP]);
    /* With only the value cap set a key may still be long: arguments are kept up to
     * proto-max-bulk-len (the store refuses the long value). */
    CHECK(grown.plan.arg_bytes_max == 512u << 20);
    /* Every plan holds an inline request of 64 KiB in its scratch. */
    CHECK(base.plan.inline_bytes > 64u * 1024 && base.plan.args_max > 32u * 1024);
}

/* Redis's options: sizes with Redis's units, names with '-' or '_', the maxclients alias,
 * policy words, output limits by class, maxmemory-clients as a size or a share. */
static void test_redis_options(void)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } sizes[] = {{"0", 0},          {"1", 1},
                 {"100b", 100},     {"1k", 1000},
                 {"1kb", 1024},     {"1K", 1000},
                 {"1KB", 1024},     {"2m", 2000000},
                 {"256mb", 256ull << 20}, {"3g", 3000000000ull},
                 {"4gb", 4ull << 30}, {"18446744073709551615", UINT64_MAX}};
    for (size_t index = 0; index < sizeof(sizes) / sizeof(sizes[0]); index++) {
        uint64_t bytes = 1;
        CHECK(config_memory_parse(sizes[index].text, &bytes));
        CHECK(bytes == sizes[index].bytes);
    }
    static const char *const bad_sizes[] = {"", "mb", "-1", "1.5mb", "1 mb", "1tb", "1kbb",
                                            "99999999999999999999", "20000000000gb"};
    for (size_t index = 0; index < sizeof(bad_sizes) / sizeof(bad_sizes[0]); index++) {
        uint64_t bytes = 0;
        CHECK(!config_memory_parse(bad_sizes[index], &bytes));
    }
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK(config.maxmemory == 256ull << 20);
    CHECK(config.maxmemory_policy == CONFIG_POLICY_NOEVICTION);
    CHECK(config.maxmemory_samples == 5);
    CHECK(config.proto_max_bulk_len == 512ull << 20);
    CHECK(config_set(&config, "maxmemory", "64mb", error, sizeof(error)) == 0);
    CHECK(config.maxmemory == 64ull << 20);
    /* Any size parses (CONFIG SET may lower it to 1, as Redis's tests do); only the startup
     * plan needs at least CONFIG_MAXMEMORY_MIN to size the heap. */
    CHECK(config_set(&config, "maxmemory", "1mb", error, sizeof(error)) == 0);
    struct plan plan;
    CHECK(plan_compute(&plan, &config, error, sizeof(error)) != 0);
    CHECK(strstr(error, "maxmemory") != NULL);
    /* The budget's options answer in Redis 7.0's words (CONFIG SET adds Redis's prefix). */
    CHECK(config_set(&config, "maxmemory", "100gb", error, sizeof(error)) != 0);
    CHECK(strcmp(error, "argument must be between 0 and 34359738368 inclusive") == 0);
    CHECK(config_set(&config, "maxmemory", "lots", error, sizeof(error)) != 0);
    CHECK(strcmp(error, "argument must be a memory value") == 0);
    CHECK(config_set(&config, "maxmemory-samples", "-3", error, sizeof(error)) != 0);
    CHECK(strcmp(error, "argument must be between 1 and 2147483647 inclusive") == 0);
    CHECK(config_set(&config, "maxmemory-samples", "007", error, sizeof(error)) != 0);
    CHECK(strcmp(error, "argument couldn't be parsed into an integer") == 0);
    CHECK(config_set(&config, "maxmemory", "64mb", error, sizeof(error)) == 0);
    CHECK(config_set(&config, "MAXMEMORY_POLICY", "allkeys-lru", error, sizeof(error)) == 0);
    CHECK(config.maxmemory_policy == CONFIG_POLICY_ALLKEYS_LRU);
    CHECK(strcmp(config_policy_name(config.maxmemory_policy), "allkeys-lru") == 0);
    CHECK(config_set(&config, "maxmemory-policy", "volatile-ttl", error, sizeof(error)) == 0);
    CHECK(config.maxmemory_policy == CONFIG_POLICY_VOLATILE_TTL);
    CHECK(config_set(&config, "maxmemory-policy", "lru", error, sizeof(error)) != 0);
    CHECK(strcmp(error, "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
                        "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
                        "noeviction") == 0);
    CHECK(config_set(&config, "maxclients", "12345", error, sizeof(error)) == 0);
    CHECK(config.connections_max == 12345);
    CHECK(config_set(&config, "key-count", "7", error, sizeof(error)) == 0);
    CHECK(config.key_count == 7);
    CHECK(config_set(&config, "client-output-buffer-limit", "pubsub 64mb 16mb 30 normal 1kb 0 0",
                     error, sizeof(error)) == 0);
    CHECK(config.output_limits[CONFIG_CLIENT_PUBSUB].hard_bytes == 64ull << 20);
    CHECK(config.output_limits[CONFIG_CLIENT_PUBSUB].soft_bytes == 16ull << 20);
    CHECK(config.output_limits[CONFIG_CLIENT_PUBSUB].soft_seconds == 30);
    CHECK(config.output_limits[CONFIG_CLIENT_NORMAL].hard_bytes == 1024);
    CHECK(config.output_limits[CONFIG_CLIENT_REPLICA].hard_bytes == 256ull << 20);
    /* A bad group changes nothing, not even the good groups before it. */
    CHECK(config_set(&config, "client-output-buffer-limit", "normal 5 5 5 nobody 1 1 1", error,
                     sizeof(error)) != 0);
    CHECK(config.output_limits[CONFIG_CLIENT_NORMAL].hard_bytes == 1024);
    CHECK(config_set(&config, "client-output-buffer-limit", "normal 1 1", error,
                     sizeof(error)) != 0);
    char text[256];
    config_output_limits_format(&config, text, sizeof(text));
    CHECK_STR(text, "normal 1024 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30");
    CHECK(config_set(&config, "maxmemory-clients", "10%", error, sizeof(error)) == 0);
    CHECK(config.maxmemory_clients_percent == 10 && config.maxmemory_clients == 0);
    CHECK(config_set(&config, "maxmemory-clients", "32mb", error, sizeof(error)) == 0);
    CHECK(config.maxmemory_clients_percent == 0 && config.maxmemory_clients == 32ull << 20);
    CHECK(config_set(&config, "maxmemory-clients", "101%", error, sizeof(error)) != 0);
    CHECK(config_set(&config, "maxmemory-clients", "%", error, sizeof(error)) != 0);
    /* Flags take Redis's names too, as redis-server accepts them. */
    char *argv[] = {"kv", "--maxmemory", "128mb", "--maxmemory-policy", "allkeys-lfu",
                    "--maxclients", "12"};
    bool help = false;
    config_defaults(&config);
    CHECK(config_parse_args(&config, 7, argv, &help, error, sizeof(error)) == 0);
    CHECK(config.maxmemory == 128ull << 20);
    CHECK(config.maxmemory_policy == CONFIG_POLICY_ALLKEYS_LFU);
    CHECK(config.connections_max == 12);
}

int main(void)
{
    test_redis_options();
    test_defaults();
    test_file_and_flags();
    test_bad_values();
    test_bad_file();
    test_plan();
    return check_exit("test_config");
}
