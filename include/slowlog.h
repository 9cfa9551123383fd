/*
 * SLOWLOG: the last slowlog_max_len commands that took at least slowlog_log_slower_than µs,
 * in a ring carved at startup. As Redis keeps them: at most 32 arguments (the 32nd replaced
 * by "... (N more arguments)"), each cut to 128 bytes ("... (N more bytes)"), the client's
 * address and name. Adding overwrites the oldest entry; nothing is allocated.
 */
#ifndef KV_SLOWLOG_H
#define KV_SLOWLOG_H

#include <stdint.h>

#include "region.h"
#include "slice.h"

#define SLOWLOG_ARGS_MAX 32u
#define SLOWLOG_ARG_BYTES_MAX 128u
#define SLOWLOG_CLIENT_BYTES_MAX 128u

struct slowlog_entry {
    uint64_t id;                 /* increasing from 0 */
    int64_t time_s;              /* Unix time when the command ran */
    uint64_t duration_us;        /* how long it ran */
    uint32_t arg_count;          /* arguments kept, at most SLOWLOG_ARGS_MAX */
    uint32_t args_more;          /* arguments beyond the kept ones (0: none) */
    uint32_t arg_bytes[SLOWLOG_ARGS_MAX];  /* bytes kept of each */
    uint32_t arg_more[SLOWLOG_ARGS_MAX];   /* bytes cut from each */
    uint8_t args[SLOWLOG_ARGS_MAX][SLOWLOG_ARG_BYTES_MAX];
    uint32_t addr_bytes;
    uint32_t name_bytes;
    char addr[64];
    char name[SLOWLOG_CLIENT_BYTES_MAX];
};

struct slowlog {
    struct slowlog_entry *entries; /* entry_max entries, a ring */
    uint32_t entry_max;            /* slowlog_max_len */
    uint32_t count;                /* entries held, <= entry_max */
    uint32_t next;                 /* ring slot the next entry goes to */
    uint64_t id_next;              /* id of the next entry */
};

uint64_t slowlog_plan_bytes(uint32_t entry_max);

void slowlog_init(struct slowlog *slowlog, struct region *region, uint32_t entry_max);

void slowlog_add(struct slowlog *slowlog, const struct slice *args, uint32_t arg_count,
                 int64_t time_s, uint64_t duration_us, struct slice addr, struct slice name);

/* The entry `age` places back from the newest (0: newest); NULL past the held ones. */
const struct slowlog_entry *slowlog_at(const struct slowlog *slowlog, uint32_t age);

void slowlog_reset(struct slowlog *slowlog);

#endif
