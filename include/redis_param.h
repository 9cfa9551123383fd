/*
 * Redis 7.0's configuration parameters that kv knows by name: every one Redis 7.0.15 has (its
 * aliases as rows of their own, as Redis registers them), with its kind, bounds, flags and
 * default. CONFIG GET answers them; CONFIG SET checks a value as Redis does (the same error
 * texts) and stores it in its canonical form (the text Redis's CONFIG GET would answer).
 * Those kv acts on are answered from struct config by cmd_server.c instead; the others are
 * "accepted without effect" (README): stored and returned, nothing more.
 *
 * Storage: one static slot of REDIS_PARAM_VALUE_BYTES per row (an alias shares its primary's
 * slot), filled by redis_param_init at startup; nothing is allocated, ever. A value longer
 * than REDIS_PARAM_VALUE_BYTES - 1 bytes is refused (kv's documented bound).
 */
#ifndef KV_REDIS_PARAM_H
#define KV_REDIS_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_assert.h"

/* More rows than Redis 7.0 has (197), for arrays sized at compile time. */
#define REDIS_PARAM_COUNT_MAX 320u

/* The longest value stored, NUL included. */
#define REDIS_PARAM_VALUE_BYTES 256u

enum redis_param_kind {
    RP_KIND_BOOL,    /* yes | no */
    RP_KIND_STRING,  /* any text */
    RP_KIND_ENUM,    /* one of the row's words (several, space-separated, when RP_MULTI_ARG) */
    RP_KIND_NUMBER,  /* an integer within the row's bounds (RP_NUM_* for its syntax) */
    RP_KIND_SPECIAL, /* a parser of its own (save, dir, bind, notify-keyspace-events, ...) */
};

/* Redis's config flags (MODIFIABLE is the absence of IMMUTABLE). */
#define RP_IMMUTABLE (1u << 0)    /* CONFIG SET: "can't set immutable config" */
#define RP_SENSITIVE (1u << 1)
#define RP_DEBUG (1u << 2)
#define RP_MULTI_ARG (1u << 3)    /* the value is several space-separated words */
#define RP_HIDDEN (1u << 4)       /* answered by exact name only, never by a pattern */
#define RP_PROTECTED (1u << 5)    /* enable-protected-configs is "no": never settable */
#define RP_DENY_LOADING (1u << 6)
#define RP_VOLATILE (1u << 7)

/* Number syntaxes (none: a plain integer, Redis's string2ll). */
#define RP_NUM_MEMORY (1u << 0)   /* a size with units (memtoull) */
#define RP_NUM_PERCENT (1u << 1)  /* or "N%", stored as -N */
#define RP_NUM_OCTAL (1u << 2)    /* octal, shown in octal */

/* One enum word; `canonical` is the index of the first word with the same value (CONFIG GET
 * shows that one, as Redis does for oom-score-adj's "relative"/"yes"). */
struct redis_param_word {
    const char *word;
    int canonical;
};

struct redis_param {
    const char *name;        /* lower case, as Redis spells it */
    const char *other;       /* the alias of a primary row, or the primary of an alias row */
    uint8_t kind;            /* enum redis_param_kind */
    uint8_t flags;           /* RP_* */
    uint8_t number_flags;    /* RP_NUM_* */
    long long lower;         /* RP_KIND_NUMBER: smallest value */
    unsigned long long upper;/* RP_KIND_NUMBER: largest value */
    bool is_signed;          /* RP_KIND_NUMBER: the bounds compare signed */
    const struct redis_param_word *words; /* RP_KIND_ENUM: NULL-terminated */
    const char *default_value; /* as redis-server 7.0.15 answers CONFIG GET */
};

/* Copies every default into its slot; "dir" gets the working directory. Startup only. */
void redis_param_init(void);

/* The rows; an index below redis_param_count() names one. */
uint32_t redis_param_count(void);
const struct redis_param *redis_param_at(uint32_t index);

/* The row named `name` (`length` bytes, any case), or -1. */
int32_t redis_param_find(const char *name, size_t length);

/* The value a row shows now (an alias shows its primary's). */
const char *redis_param_value(uint32_t index);

/*
 * Checks `value` for row `index` as Redis's CONFIG SET does and writes the canonical form
 * into `canonical` (REDIS_PARAM_VALUE_BYTES). Returns NULL, or Redis's error text (without
 * the "CONFIG SET failed ..." prefix). Immutable/protected rows are the caller's to refuse.
 */
KV_MUST_USE const char *redis_param_check(uint32_t index, const char *value, size_t length,
                                          char *canonical);

/* The classes notify-keyspace-events holds now, as Redis's NOTIFY_* bits (K is bit 0, n bit
 * 14): what its last stored value named, "n" beside "A" included. */
uint32_t redis_param_notify_classes(void);

/* Stores a canonical value redis_param_check produced. */
void redis_param_store(uint32_t index, const char *canonical);

#endif
