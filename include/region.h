/*
 * The region: the one memory mapping kv serves from. region_map() maps, locks and
 * prefaults it; region_carve() is a bump allocator that hands out aligned pieces until
 * region_seal(), after which any carve is an assertion failure. Nothing is ever freed.
 */
#ifndef KV_REGION_H
#define KV_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kv_assert.h"

struct region {
    uint8_t *base;          /* first byte of the mapping */
    uint64_t bytes;         /* usable bytes: the plan's total, rounded up to page_bytes */
    uint64_t carved_bytes;  /* bump cursor: bytes handed out so far, alignment included */
    uint64_t page_bytes;    /* page size backing the mapping: 1 GiB, 2 MiB or the base page */
    bool hugetlb;           /* mapped with MAP_HUGETLB (explicit hugepages) */
    bool locked;            /* mlock succeeded: the region cannot be paged out */
    bool sealed;            /* startup is over: carving is a bug from here on */
    uint64_t prefault_ms;   /* how long locking and prefaulting took at startup */
};

/*
 * Maps `bytes` (rounded up to the page size chosen) following `hugepages`, locks it
 * following `mlock`, and prefaults every page. Logs the page size and lock state.
 * Returns 0, or a negative errno with a one-line reason in `error` (e.g. mlock required
 * but refused: raise LimitMEMLOCK or run with CAP_IPC_LOCK).
 */
KV_MUST_USE int region_map(struct region *region, uint64_t bytes, enum config_hugepages hugepages,
                           enum config_mlock mlock, char *error, size_t error_bytes);

/* Bump allocation: `bytes` aligned to `align` (a power of two). Asserts there is room. */
void *region_carve(struct region *region, uint64_t bytes, uint64_t align);

/* Ends startup: every later carve asserts. */
void region_seal(struct region *region);

/* Unmaps at shutdown (tests map and unmap many regions). */
void region_unmap(struct region *region);

/* Human name of the page size, e.g. "1GiB", "2MiB", "4KiB". */
const char *region_page_name(const struct region *region);

#endif
