/*
 * Propagation: what each write command hands to the AOF, as Redis 7.0's call() propagates it
 * (propagate, alsoPropagate, rewriteClientCommandVector). cmd_run brackets every command with
 * propagate_command_begin/end; a command that changed the keyspace (it raised a keyspace event,
 * or it is one of FLUSHALL, FLUSHDB, SWAPDB, FUNCTION LOAD/DELETE/FLUSH/RESTORE) is fed to the
 * registered sink in its deterministic form:
 *   EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, GETEX EX/PX/EXAT/PXAT -> PEXPIREAT key <unix ms>
 *     (DEL key when the time had passed and the key went); GETEX PERSIST -> PERSIST key
 *   SETEX, PSETEX, SET .. EX/PX/EXAT -> SET key value PXAT <unix ms>
 *   GETDEL -> DEL; INCRBYFLOAT -> SET key <value> KEEPTTL; HINCRBYFLOAT -> HSET key field <value>
 *   SPOP -> SREM key <the members popped>
 *   BLPOP/BRPOP -> LPOP/RPOP key; BRPOPLPUSH -> RPOPLPUSH; BLMOVE -> LMOVE;
 *   BZPOPMIN/BZPOPMAX -> ZPOPMIN/ZPOPMAX key; LMPOP/BLMPOP -> LPOP/RPOP key count;
 *   ZMPOP/BZMPOP -> ZPOPMIN/ZPOPMAX key count (the key and count as the reply tells them)
 *   RESTORE key <ttl> .. (relative) -> RESTORE key <unix ms> .. ABSTTL
 *   XADD key .. * (or <ms>-*) -> the ID made; XADD, XTRIM .. MAXLEN|MINID ~ <threshold>
 *     [LIMIT n] -> MAXLEN = <length now> | MINID = <first ID now> [LIMIT n] (LIMIT kept, as
 *     Redis keeps it: after `=` only the AOF's client may give it, and it ignores it)
 *   XREADGROUP, XCLAIM, XAUTOCLAIM: not themselves, but the effects the stream commands feed
 *     (propagate_effect: Redis's streamPropagateXCLAIM, streamPropagateGroupID and
 *     streamPropagateConsumerCreation), in MULTI .. EXEC when there are two or more
 *   a change without a keyspace event (propagate_changed: XACK) -> the command as sent
 *   EXEC, EVAL*, FCALL*: not themselves, but each write they ran, in MULTI .. EXEC when
 *     there are two or more (one goes alone, as Redis 7.0's propagatePendingCommands)
 *   expired and evicted keys -> DEL key (the store's event hook, through notify's tap)
 * The database each command ran in goes with it; the sink writes SELECT when it changes.
 *
 * Bounds: nothing is copied here; the sink takes one argument at a time (propagate_sink's
 * begin/arg/end), so a command of any size streams through. Commands nest (EXEC, scripts)
 * at most NOTIFY_DEPTH_MAX deep. The values read back from the reply (SPOP's members, a pop's
 * key) are parsed where the reply is contiguous (a connection's tail block, a script's
 * buffer); a reply that spans output blocks propagates the command as it was sent (logged).
 */
#ifndef KV_PROPAGATE_H
#define KV_PROPAGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "slice.h"

struct store;
struct reply;

/* Where propagated commands go (the AOF writer registers itself). */
struct propagate_sink {
    /* A command of `arg_count` arguments in database `db_index` begins. */
    void (*begin)(void *context, uint32_t db_index, uint32_t arg_count);
    /* Its next argument (exactly arg_count calls follow begin). */
    void (*arg)(void *context, struct slice arg);
    /* A transaction's or a script's writes begin (MULTI) and end (EXEC): with one command
     * between, Redis 7.0 writes it alone, and the sink takes the MULTI back if it still can. */
    void (*multi)(void *context, uint32_t db_index);
    void (*exec)(void *context, uint32_t command_count);
    /* The loop's pass ends: what was fed goes to the file (appendfsync always: durably). */
    void (*pass_end)(void *context);
    /* Whether the sink needs the loop to wake without I/O (an fsync due, a write to retry). */
    bool (*timer_wanted)(void *context);
    /* BGREWRITEAOF: starts a rewrite now (0), or schedules it for when the running snapshot
     * ends or, `in_exec`, for the pass's end (1); -EBUSY when one runs, another negative
     * errno when it cannot start (logged). */
    int (*rewrite)(void *context, bool in_exec);
    /* CONFIG RESETSTAT: the counters Redis's resetServerStats zeroes (aof_rewrites and the
     * consecutive failures). */
    void (*stats_reset)(void *context);
    void *context;
};

/* What INFO persistence shows of the AOF (the writer keeps it). */
struct propagate_aof_stats {
    bool enabled;                    /* appendonly is on and its files are open */
    bool rewrite_in_progress;        /* from the start until its end's manifest is durable */
    bool rewrite_snapshot;           /* the running snapshot is the rewrite's (its base) */
    bool rewrite_scheduled;
    int64_t rewrite_started_ms;      /* Unix ms the running rewrite started */
    int64_t last_rewrite_time_sec;   /* -1 before any */
    bool last_rewrite_ok;
    uint64_t rewrites;
    uint64_t rewrites_consecutive_failures;
    int last_write_errno;            /* 0: aof_last_write_status:ok */
    uint64_t current_size;           /* base + incr files' bytes */
    uint64_t base_size;              /* the size after the last rewrite (or at startup) */
    uint64_t buffer_length;          /* bytes fed and not yet written */
    uint64_t delayed_fsync;          /* everysec fsyncs postponed (one in flight) */
    bool pending_fsync;              /* an fsync is in flight */
};

/* Installs the sink (NULL: none) and its stats; on tells whether commands are fed. */
void propagate_register(const struct propagate_sink *sink, const struct propagate_aof_stats *stats);

/* Turns feeding on or off (appendonly); the sink stays registered. */
void propagate_enable(bool on);

/* Whether an AOF rewrite's snapshot runs (the snapshot is not a BGSAVE's). */
bool propagate_rewrite_running(void);

/* Whether commands are fed now. */
bool propagate_enabled(void);

/* CONFIG RESETSTAT: the writer zeroes its counters (nothing when none registered). */
void propagate_stats_reset(void);

/* The registered stats, or NULL when no writer registered. */
const struct propagate_aof_stats *propagate_stats(void);

/* The errno of the last failed AOF write while it stays failed (Redis's MISCONF for writes),
 * else 0. */
int propagate_write_error(void);

/* BGREWRITEAOF: the sink's rewrite (above); 0 when no writer is registered or appendonly is
 * off (nothing is rewritten). */
int propagate_rewrite_request(bool in_exec);

/* State of one command between begin and end. */
struct propagate_frame {
    uint64_t events_before;  /* notify's event count when it began */
    uint64_t changes_before; /* propagate_changed's count when it began */
    bool container;          /* EXEC, a script, or a command of effects (XREADGROUP, XCLAIM,
                              * XAUTOCLAIM): what it feeds propagates, not itself */
};

/* Brackets a command (cmd_run). `name` is the table's (lower-case) name. */
void propagate_command_begin(struct propagate_frame *frame, const char *name);
void propagate_command_end(const struct propagate_frame *frame, struct store *store,
                           const char *name, bool write, const struct slice *args,
                           uint32_t arg_count, const struct reply *reply);

/* Whether what the running command feeds would go anywhere (propagation is on and a
 * command runs): a command of effects builds them only then. */
bool propagate_effect_wanted(void);

/* One effect of the running command of effects (Redis's alsoPropagate): `args` as they are,
 * in database `db_index`. Ignored unless propagate_effect_wanted(). */
void propagate_effect(uint32_t db_index, const struct slice *args, uint32_t arg_count);

/* The running command changed the dataset without a keyspace event (Redis's server.dirty++
 * where no event is raised: XACK): it propagates as sent (or as its rewrite). */
void propagate_changed(void);

/* The store's expired or evicted key (notify's tap): DEL key in the selected database. */
void propagate_deletion(uint32_t db_index, struct slice key);

/* The loop's pass ends (serve_pass_end): the sink writes what it holds. */
void propagate_pass_end(void);

/* Whether the sink needs the loop to wake on its timer even with nothing else due (cron). */
bool propagate_timer_wanted(void);

#endif
