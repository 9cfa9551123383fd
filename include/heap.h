/*
 * The heap: the memory budget (maxmemory) that every key, value, collection and client
 * buffer draws from after startup. It is one run carved from the region at startup and
 * divided into pages of HEAP_PAGE_BYTES. A span is a run of whole pages: a small allocation
 * (at most HEAP_SMALL_BYTES_MAX) takes an object of its size class inside a span kept for
 * that class; a large one takes a span of its own. A span whose last object goes back
 * returns to the free spans and merges with free neighbours, so memory that one size held
 * serves any other size: the budget does not calcify. The last HEAP_CACHE_SPANS small spans
 * that emptied wait first in a cache (their pages counted free, but in no bin), so that an
 * object taken and given back at every request (a reply's first block, alone in its one-page
 * span) does not cut a free span and merge it back each time: a new span of the same class
 * takes a cached one, and any request the free spans cannot serve flushes the cache into them
 * and tries again (so does the last release: an empty heap is one free span).
 *
 * Invariants: every page belongs to exactly one span (free, cached, small or large); free
 * spans never touch one another (they merge); a small span's objects in use plus its free objects
 * plus its never-used tail equal its capacity; used_bytes is the sum of the usable sizes
 * handed out. Every loop is bounded by the page count or a span's object count.
 *
 * Never touches the OS: no mmap, no malloc. Single-threaded, like the rest of kv.
 *
 * References: an allocation may be named by a 32-bit reference, its offset from the heap's
 * base in HEAP_ALIGN units, plus one (so 0, HEAP_REF_NONE, names nothing). Long-lived links
 * (hash chains, list nodes, tree children) store references, not pointers: half the bytes,
 * and checkable. 2^32 units of 8 bytes address 32 GiB, the largest heap.
 */
#ifndef KV_HEAP_H
#define KV_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "region.h"

/* A page: the unit spans are made of. Small enough that a large allocation wastes less than
 * a page, large enough that the page table stays under 1% of the heap. */
#define HEAP_PAGE_BYTES 4096u

/* Every allocation is aligned to this and sized in multiples of it. */
#define HEAP_ALIGN 8u

/* Allocations up to this size come from size classes; larger ones get spans of whole pages
 * (then the waste is under one page in HEAP_SMALL_BYTES_MAX / HEAP_PAGE_BYTES). */
#define HEAP_SMALL_BYTES_MAX (32u * 1024u)

/* The largest heap references can address: 2^32 units of 8 bytes are 32 GiB, less one page
 * so that the last unit's offset plus one (its reference) still fits in 32 bits. */
#define HEAP_BYTES_MAX ((32ull << 30) - HEAP_PAGE_BYTES)

#define HEAP_REF_NONE 0u

/* Ends a span list (a free bin or a class's partial list): no page has this index. */
#define HEAP_SPAN_NONE UINT32_MAX

/* Size classes: HEAP_ALIGN steps up to 256 bytes, then 16 classes per doubling up to
 * HEAP_SMALL_BYTES_MAX, so an object wastes at most 1/16 of its size past 256 bytes. */
#define HEAP_CLASS_COUNT_MAX 144u

enum heap_page_kind {
    HEAP_PAGE_FREE = 0,  /* in a free span */
    HEAP_PAGE_SMALL = 1, /* in a span of one size class */
    HEAP_PAGE_LARGE = 2, /* in a span holding one large allocation */
    HEAP_PAGE_CACHED = 3,/* in an empty small span kept in the cache: free, in no bin */
};

/* Empty small spans the cache keeps (at most 8 x HEAP_SMALL_SPAN_PAGES_MAX pages out of the
 * bins). */
#define HEAP_CACHE_SPANS 8u

/* One page's entry in the page table. Fields marked (head) are meaningful on a span's first
 * page; span_first is kept on every page of a small or large span so that any address finds
 * its span, and on the first and last page of a free span (the pages a merge looks at: a
 * merge then rewrites two entries, not every page of the merged span). */
struct heap_page {
    uint32_t span_first;  /* index of the first page of this page's span (see above) */
    uint32_t span_pages;  /* (head, and last page of a free span) pages in the span */
    uint32_t prev;        /* (head) previous span in its list (free bin or class), or NONE */
    uint32_t next;        /* (head) next span in its list, or NONE */
    uint16_t used;        /* (head, small) objects handed out and not released */
    uint16_t free_head;   /* (head, small) first released object + 1; 0: none */
    uint16_t fresh;       /* (head, small) objects never handed out (at the span's end) */
    uint8_t kind;         /* (every page) enum heap_page_kind */
    uint8_t class_index;  /* (head, small) size class */
};

struct heap_class {
    uint32_t object_bytes; /* size of each object */
    uint32_t span_pages;   /* pages in each span of this class */
    uint32_t objects;      /* objects in each span */
    uint32_t partial;      /* first span with a free object (doubly linked), or NONE */
    uint32_t reciprocal;   /* ceil(2^32 / object_bytes): offset in span -> object index */
    uint64_t spans;        /* spans of this class */
    uint64_t objects_used; /* objects of this class handed out and not released */
};

/* Free spans in bins: bin n < HEAP_BIN_EXACT holds spans of exactly n + 1 pages; later bins
 * hold spans of [2^k, 2^(k+1)) pages. */
#define HEAP_BIN_EXACT 128u
#define HEAP_BIN_COUNT (HEAP_BIN_EXACT + 32u)

/* Bitmaps over the pages (heap.c keeps five, marking the last page of free spans): level 0
 * has a bit per page, each level above a bit per word of the level below (set while that
 * word is non-zero). 64^4 bits cover the largest heap's 2^23 pages. */
#define HEAP_BIT_LEVELS_MAX 4u

struct heap {
    uint8_t *base;              /* first page, aligned to HEAP_PAGE_BYTES */
    struct heap_page *pages;    /* the page table: page_count entries */
    uint32_t page_count;        /* pages in the heap */
    uint32_t class_count;       /* size classes in use */
    struct heap_class classes[HEAP_CLASS_COUNT_MAX];
    uint32_t bins[HEAP_BIN_COUNT]; /* first free span of each bin, or NONE */
    uint32_t bin_counts[HEAP_BIN_COUNT]; /* free spans in each bin (heap_would_fit sums) */
    uint64_t bins_nonempty[(HEAP_BIN_COUNT + 63) / 64]; /* bit b: bin b holds a span */
    uint64_t *end_bits;         /* the bitmaps, every level, carved after the page table */
    uint32_t bit_words;         /* words in one bitmap, all levels */
    uint32_t bit_levels;        /* levels in use: the top one is a single word */
    uint32_t bit_level_words[HEAP_BIT_LEVELS_MAX];  /* words in each level */
    uint32_t bit_level_offset[HEAP_BIT_LEVELS_MAX]; /* each level's first word in free_bits */
    uint64_t used_bytes;        /* usable bytes of every allocation handed out */
    uint64_t allocations;       /* allocations handed out and not released */
    uint32_t free_pages;        /* pages in free spans */
    uint32_t large_pages;       /* pages in large spans */
    uint32_t small_pages;       /* pages in small spans */
    uint64_t peak_used_bytes;   /* highest used_bytes seen */
    uint64_t failed_allocations;/* allocations (and moving resizes) refused for lack of room:
                                   a command that saw one may retry after eviction */
    uint32_t keep_free_pages;   /* free pages only heap_alloc_reserve and
                                   heap_resize_reserve may take (the client reserve) */
    uint8_t reserve_open;       /* enum heap_reserve: how much of them may go now */
    uint32_t cache[HEAP_CACHE_SPANS]; /* first pages of the cached empty small spans */
    uint32_t cache_count;       /* spans in the cache; their pages are in free_pages */
};

/* Bytes heap_init carves for a heap of `bytes` (rounded down to whole pages): the pages, the
 * page table and two bitmaps of a bit per page, alignment included. plan.c sums it. */
uint64_t heap_plan_bytes(uint64_t bytes);

/* The bytes a heap of `bytes` can hand out: its whole pages. */
uint64_t heap_capacity_bytes(uint64_t bytes);

/* Carves the pages, the page table and the bitmaps from the region; every page starts free.
 * `bytes` is at least one page and at most HEAP_BYTES_MAX. */
void heap_init(struct heap *heap, struct region *region, uint64_t bytes);

/* Keeps `bytes` of free pages (rounded up to pages) for heap_alloc_reserve and
 * heap_resize_reserve: every other allocation that needs new pages fails rather than leave
 * fewer free. The client reserve: data and tables that fill the budget, or partly filled
 * spans of many size classes, can then never take the pages replies need. 0 keeps none. */
void heap_keep_free(struct heap *heap, uint64_t bytes);

/* Takes `bytes` (> 0) of memory aligned to HEAP_ALIGN; NULL when the heap has no room, which
 * the caller turns into Redis's OOM error. The contents are not zeroed. */
KV_MUST_USE void *heap_alloc(struct heap *heap, uint64_t bytes);

/* Gives an allocation back. Asserts it is one that heap_alloc handed out and not released. */
void heap_release(struct heap *heap, void *pointer);

/* Grows or shrinks an allocation, keeping min(old, new) bytes of its contents: in place when
 * its class or span still fits, else moved. NULL when there is no room, and then the old
 * allocation is untouched and still valid. */
KV_MUST_USE void *heap_resize(struct heap *heap, void *pointer, uint64_t bytes);

/* The bytes an allocation may really use: its class size, or its span's bytes. */
uint64_t heap_usable_bytes(const struct heap *heap, const void *pointer);

/* What heap_alloc(bytes) would give as usable bytes (its class, or whole pages). */
uint64_t heap_rounded_bytes(uint64_t bytes);

/* Whether `count` allocations of `bytes` each would succeed now (without taking them), so a
 * command can validate before it commits. Gives the cache back to the free spans first (the
 * contents of the heap do not change), so that the answer is exact. */
bool heap_would_fit(struct heap *heap, uint64_t bytes, uint64_t count);

/* How much of the kept free pages an allocation may take: none (data), half (a command that
 * is not DENYOOM: EXPIRE, WATCH, a write that frees memory, as Redis lets those past
 * maxmemory, with half kept so that their replies still find pages), or all (client
 * buffers). */
enum heap_reserve {
    HEAP_RESERVE_CLOSED = 0,
    HEAP_RESERVE_HALF = 1,
    HEAP_RESERVE_ALL = 2,
};

/* Sets how much of the kept free pages every allocation may take until set back; returns
 * what was set before, for the caller to restore. */
enum heap_reserve heap_reserve_set(struct heap *heap, enum heap_reserve open);

/* heap_alloc and heap_release that keep a module's tally of its usable bytes in *counted
 * (the registries' MEMORY and INFO figures, with no walk). */
KV_MUST_USE void *heap_alloc_counted(struct heap *heap, uint64_t bytes, uint64_t *counted);
void heap_release_counted(struct heap *heap, void *pointer, uint64_t *counted);

/* heap_alloc and heap_resize that may take the kept free pages (heap_keep_free): client
 * buffers. */
KV_MUST_USE void *heap_alloc_reserve(struct heap *heap, uint64_t bytes);
KV_MUST_USE void *heap_resize_reserve(struct heap *heap, void *pointer, uint64_t bytes);

/* Bytes not handed out: free pages, plus free objects in small spans. */
uint64_t heap_free_bytes(const struct heap *heap);

static inline uint32_t heap_ref(const struct heap *heap, const void *pointer)
{
    const uint8_t *byte = pointer;
    KV_ASSERT(byte >= heap->base);
    uint64_t offset = (uint64_t)(byte - heap->base);
    KV_ASSERT(offset % HEAP_ALIGN == 0);
    KV_ASSERT(offset < (uint64_t)heap->page_count * HEAP_PAGE_BYTES);
    return (uint32_t)(offset / HEAP_ALIGN) + 1u;
}

static inline void *heap_pointer(const struct heap *heap, uint32_t ref)
{
    KV_ASSERT(ref != HEAP_REF_NONE);
    uint64_t offset = (uint64_t)(ref - 1u) * HEAP_ALIGN;
    KV_ASSERT(offset < (uint64_t)heap->page_count * HEAP_PAGE_BYTES);
    return heap->base + offset;
}

/* Checks every invariant of the page table, the bins and the classes (tests, debug). Walks
 * every page: O(page_count). Uses no memory of its own. */
void heap_verify(const struct heap *heap);

#endif
