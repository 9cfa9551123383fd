/*
 * The heap: kv's memory budget, carved once at startup as pages of HEAP_PAGE_BYTES, a page
 * table with one entry per page, and bitmaps with a bit per page. A span is a run of pages
 * of one kind. Free spans sit in bins by page count (exact counts up to HEAP_BIN_EXACT, then
 * power-of-two ranges) with a bit per non-empty bin. A small allocation takes an object from
 * the first span on its class's partial list: from the span's intrusive free list (each
 * free object stores the next index + 1 and a mark), else from its never-used `fresh` tail,
 * so a new span needs no list building. A large allocation takes a span of its own, the best
 * fit from the bins, front first. A new small span takes the tail of the highest free span
 * that holds it (found through the bitmaps, which mark the last page of free spans of at
 * least 1, 2, 4, 8 and 16 pages), so small spans gather at the top and the long free runs
 * below stay whole for large allocations. A span that empties goes back to the free spans
 * at once and merges with free neighbours found in O(1) through the page table.
 *
 * Invariants (heap_verify checks them all): the spans tile the pages; every page of a span
 * has the span's kind, and a small or large span's pages all name its first page; a free
 * span's first and last page give its first page and length; no two free spans touch; bin b
 * lists exactly the free spans whose length maps to b, and bin_counts and bins_nonempty
 * agree; bitmap k marks exactly the last pages of free spans of at least 2^k pages and its
 * upper levels summarise it; a class's partial list holds exactly its spans with a free
 * object; in each small span used + free-list length + fresh == objects; the counters (free,
 * small and large pages, used_bytes, allocations, spans and objects_used per class) match.
 *
 * Bounds: alloc and release are O(1) except (a) marking the pages of a span taken or given,
 * O(span pages): at most 16 for a small span, in proportion to the bytes for a large one;
 * (b) a request of more than HEAP_BIN_EXACT pages when the best fit among the first
 * HEAP_BIN_SCAN_MAX spans of its range bin fails and no later bin holds a span: a first-fit
 * scan of that bin, whose spans have at least 2^k pages, so at most page_count / 2^k; (c) a
 * release whose object still carries the free mark (a double release, or live bytes equal
 * to the mark by chance): a walk of that span's free list, at most its object count. A new
 * small span costs at most HEAP_TOP_SCAN_MAX + 1 bitmap searches of 2 * levels (<= 8) words.
 * heap_would_fit walks only range bins (spans of more than HEAP_BIN_EXACT pages, at most
 * page_count / HEAP_BIN_EXACT of them) and stops once it has enough.
 *
 * Never touches the OS and never allocates: everything lives in what heap_init carves.
 * Debug builds (KV_DEBUG) fill released memory with a poison byte and check, when an object
 * comes off a free list, that nobody wrote to it while it was free.
 */
#include "heap.h"

#include <string.h>

/* The page table is carved on a cache line. */
#define HEAP_TABLE_ALIGN 64u

/* Classes: HEAP_ALIGN steps up to HEAP_CLASS_LINEAR_MAX, then HEAP_CLASS_PER_DOUBLING per
 * doubling up to HEAP_SMALL_BYTES_MAX (256 -> 32 KiB is 7 doublings). */
#define HEAP_CLASS_LINEAR_MAX 256u
#define HEAP_CLASS_LINEAR_COUNT (HEAP_CLASS_LINEAR_MAX / HEAP_ALIGN)
#define HEAP_CLASS_LINEAR_SHIFT 8u /* log2(HEAP_CLASS_LINEAR_MAX) */
#define HEAP_CLASS_PER_DOUBLING 16u
#define HEAP_CLASS_STEP_SHIFT 4u /* log2(HEAP_CLASS_PER_DOUBLING) */
#define HEAP_CLASS_DOUBLINGS 7u  /* log2(HEAP_SMALL_BYTES_MAX / HEAP_CLASS_LINEAR_MAX) */
#define HEAP_CLASS_COUNT (HEAP_CLASS_LINEAR_COUNT + HEAP_CLASS_DOUBLINGS * HEAP_CLASS_PER_DOUBLING)

/* A small span has at most this many pages, and wastes at most 1/HEAP_TAIL_FRACTION of its
 * bytes in the tail that no whole object fits. */
#define HEAP_SMALL_SPAN_PAGES_MAX 16u
#define HEAP_TAIL_FRACTION 16u

/* log2(HEAP_PAGE_BYTES). */
#define HEAP_PAGE_SHIFT 12u

/* Range bins: bin HEAP_BIN_EXACT + j holds spans of [2^(7+j), 2^(8+j)) pages (the first one
 * only from HEAP_BIN_EXACT + 1, since HEAP_BIN_EXACT pages has its exact bin). */
#define HEAP_BIN_EXACT_SHIFT 7u /* log2(HEAP_BIN_EXACT) */

/* A range bin is searched for the best fit among at most this many of its spans. */
#define HEAP_BIN_SCAN_MAX 32u

/* A new small span looks at most this many free spans down from the top of the heap. */
#define HEAP_TOP_SCAN_MAX 8u

/* A free object starts with the next free index + 1 and a mark: HEAP_FREE_MARK xor its
 * reference, so a stale mark from another address does not match. */
#define HEAP_FREE_MARK 0x6b764672u

/* Debug builds fill released memory with this byte (as pool.c does): neither zero nor a
 * small integer, so a stale read stands out. */
#define HEAP_POISON_BYTE 0xabu

/* What a free object holds in its first HEAP_ALIGN bytes. */
struct heap_free_object {
    uint16_t next;     /* next free object's index + 1; 0 ends the list */
    uint16_t reserved; /* zero */
    uint32_t mark;     /* HEAP_FREE_MARK ^ the object's reference */
};

static_assert(sizeof(struct heap_page) == 24, "page table under 1% of the pages");
static_assert(sizeof(struct heap_free_object) == HEAP_ALIGN, "the link fits the smallest object");
static_assert(HEAP_CLASS_COUNT <= HEAP_CLASS_COUNT_MAX, "the class table fits");
static_assert(HEAP_PAGE_BYTES == 1u << HEAP_PAGE_SHIFT, "page shift");
static_assert(HEAP_BIN_EXACT == 1u << HEAP_BIN_EXACT_SHIFT, "exact bins end on a power of two");
static_assert(HEAP_CLASS_LINEAR_MAX == 1u << HEAP_CLASS_LINEAR_SHIFT, "linear classes shift");
static_assert(HEAP_SMALL_BYTES_MAX == HEAP_CLASS_LINEAR_MAX << HEAP_CLASS_DOUBLINGS,
              "the last doubling ends at HEAP_SMALL_BYTES_MAX");
static_assert(HEAP_CLASS_PER_DOUBLING == 1u << HEAP_CLASS_STEP_SHIFT, "class step shift");
static_assert((HEAP_CLASS_LINEAR_MAX >> HEAP_CLASS_STEP_SHIFT) % HEAP_ALIGN == 0,
              "every class size is a multiple of HEAP_ALIGN");
static_assert(HEAP_SMALL_SPAN_PAGES_MAX * HEAP_PAGE_BYTES <= (1u << 16),
              "span offsets fit 16 bits, so the reciprocal division is exact");
static_assert(HEAP_SMALL_SPAN_PAGES_MAX * HEAP_PAGE_BYTES / HEAP_ALIGN < UINT16_MAX,
              "object counts and free indexes + 1 fit the uint16 fields");
static_assert(HEAP_BYTES_MAX / HEAP_PAGE_BYTES <= UINT32_MAX, "page indexes fit 32 bits");
static_assert(HEAP_BYTES_MAX / HEAP_ALIGN < UINT32_MAX, "references fit 32 bits");
static_assert(HEAP_BIN_EXACT + (32u - HEAP_BIN_EXACT_SHIFT) <= HEAP_BIN_COUNT,
              "a range bin for every 32-bit page count");
static_assert(HEAP_BYTES_MAX / HEAP_PAGE_BYTES <= 1ull << (6 * HEAP_BIT_LEVELS_MAX),
              "the bitmap's levels cover the largest heap");

static uint64_t round_up(uint64_t bytes, uint64_t unit)
{
    KV_ASSERT(unit != 0);
    KV_ASSERT((unit & (unit - 1)) == 0);
    return (bytes + unit - 1) & ~(unit - 1);
}

static uint32_t log2_floor(uint64_t value)
{
    KV_ASSERT(value > 0);
    return 63u - (uint32_t)__builtin_clzll(value);
}

/* ---- Size classes --------------------------------------------------------------------- */

static uint32_t class_index_for(uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    KV_ASSERT(bytes <= HEAP_SMALL_BYTES_MAX);
    if (bytes <= HEAP_CLASS_LINEAR_MAX) {
        return (uint32_t)((bytes + HEAP_ALIGN - 1) / HEAP_ALIGN) - 1;
    }
    /* 2^shift < bytes <= 2^(shift + 1); that doubling is cut in steps of 2^(shift - 3). */
    uint32_t shift = log2_floor(bytes - 1);
    uint32_t step_shift = shift - HEAP_CLASS_STEP_SHIFT;
    uint64_t step = (bytes - (1ull << shift) + (1ull << step_shift) - 1) >> step_shift;
    KV_ASSERT(step >= 1 && step <= HEAP_CLASS_PER_DOUBLING);
    return HEAP_CLASS_LINEAR_COUNT + (shift - HEAP_CLASS_LINEAR_SHIFT) * HEAP_CLASS_PER_DOUBLING +
           (uint32_t)step - 1;
}

static uint32_t class_object_bytes_for(uint32_t class_index)
{
    KV_ASSERT(class_index < HEAP_CLASS_COUNT);
    if (class_index < HEAP_CLASS_LINEAR_COUNT) {
        return (class_index + 1) * HEAP_ALIGN;
    }
    uint32_t doubling = (class_index - HEAP_CLASS_LINEAR_COUNT) / HEAP_CLASS_PER_DOUBLING;
    uint32_t step = (class_index - HEAP_CLASS_LINEAR_COUNT) % HEAP_CLASS_PER_DOUBLING + 1;
    uint32_t shift = HEAP_CLASS_LINEAR_SHIFT + doubling;
    return (1u << shift) + (step << (shift - HEAP_CLASS_STEP_SHIFT));
}

/* The fewest pages (at most HEAP_SMALL_SPAN_PAGES_MAX) holding at least one object whose
 * unusable tail is at most 1/HEAP_TAIL_FRACTION of the span. */
static uint32_t class_span_pages_for(uint32_t object_bytes)
{
    /* Bounded by HEAP_SMALL_SPAN_PAGES_MAX tries; heap_init asserts one fits. */
    for (uint32_t pages = 1; pages <= HEAP_SMALL_SPAN_PAGES_MAX; pages++) {
        uint32_t span_bytes = pages * HEAP_PAGE_BYTES;
        uint32_t tail_bytes = span_bytes % object_bytes;
        if (span_bytes >= object_bytes && tail_bytes * HEAP_TAIL_FRACTION <= span_bytes) {
            return pages;
        }
    }
    KV_ASSERT(false);
    return 0;
}

static void classes_init(struct heap *heap)
{
    heap->class_count = HEAP_CLASS_COUNT;
    /* Bounded by HEAP_CLASS_COUNT. */
    for (uint32_t index = 0; index < HEAP_CLASS_COUNT; index++) {
        struct heap_class *class = &heap->classes[index];
        class->object_bytes = class_object_bytes_for(index);
        class->span_pages = class_span_pages_for(class->object_bytes);
        class->objects = class->span_pages * HEAP_PAGE_BYTES / class->object_bytes;
        class->reciprocal = (uint32_t)(((1ull << 32) + class->object_bytes - 1) /
                                       class->object_bytes);
        class->partial = HEAP_SPAN_NONE;
        class->spans = 0;
        class->objects_used = 0;
        /* The table's properties: sizes grow, every size maps back to its own class. */
        KV_ASSERT(class->object_bytes % HEAP_ALIGN == 0);
        KV_ASSERT(index == 0 || class->object_bytes > heap->classes[index - 1].object_bytes);
        KV_ASSERT(class_index_for(class->object_bytes) == index);
        KV_ASSERT(index == 0 ||
                  class_index_for(heap->classes[index - 1].object_bytes + 1) == index);
        KV_ASSERT(class->objects >= 1 && class->objects < UINT16_MAX);
        KV_ASSERT((class->span_pages * HEAP_PAGE_BYTES - class->objects * class->object_bytes) *
                      HEAP_TAIL_FRACTION <=
                  class->span_pages * HEAP_PAGE_BYTES);
    }
    KV_ASSERT(heap->classes[HEAP_CLASS_COUNT - 1].object_bytes == HEAP_SMALL_BYTES_MAX);
}

/* ---- Span lists (free bins and partial lists), linked through head pages --------------- */

static void list_push(struct heap *heap, uint32_t *list_head, uint32_t first)
{
    KV_ASSERT(first < heap->page_count);
    struct heap_page *page = &heap->pages[first];
    page->prev = HEAP_SPAN_NONE;
    page->next = *list_head;
    if (*list_head != HEAP_SPAN_NONE) {
        KV_ASSERT(heap->pages[*list_head].prev == HEAP_SPAN_NONE);
        heap->pages[*list_head].prev = first;
    }
    *list_head = first;
}

static void list_remove(struct heap *heap, uint32_t *list_head, uint32_t first)
{
    KV_ASSERT(first < heap->page_count);
    struct heap_page *page = &heap->pages[first];
    if (page->prev == HEAP_SPAN_NONE) {
        KV_ASSERT(*list_head == first);
        *list_head = page->next;
    } else {
        KV_ASSERT(heap->pages[page->prev].next == first);
        heap->pages[page->prev].next = page->next;
    }
    if (page->next != HEAP_SPAN_NONE) {
        KV_ASSERT(heap->pages[page->next].prev == first);
        heap->pages[page->next].prev = page->prev;
    }
    page->prev = HEAP_SPAN_NONE;
    page->next = HEAP_SPAN_NONE;
}

/* ---- Bitmaps of free span ends --------------------------------------------------------- */

/* Words in each level of a bitmap for `page_count` pages; returns the level count. Each
 * level has 64 times fewer words than the one below, down to a single word. */
static uint32_t bit_level_shape(uint64_t page_count, uint32_t *level_words)
{
    KV_ASSERT(page_count > 0);
    uint64_t bits = page_count;
    for (uint32_t level = 0; level < HEAP_BIT_LEVELS_MAX; level++) {
        uint64_t words = (bits + 63) / 64;
        level_words[level] = (uint32_t)words;
        if (words == 1) {
            return level + 1;
        }
        bits = words;
    }
    KV_ASSERT(false); /* the static_assert on HEAP_BIT_LEVELS_MAX makes this unreachable */
    return 0;
}

static uint64_t bit_words_total(uint64_t page_count)
{
    uint32_t level_words[HEAP_BIT_LEVELS_MAX];
    uint32_t levels = bit_level_shape(page_count, level_words);
    uint64_t words = 0;
    for (uint32_t level = 0; level < levels; level++) {
        words += level_words[level];
    }
    return words;
}

/* The bitmaps: map k marks the last page of every free span of at least 2^k pages, for k up
 * to log2(HEAP_SMALL_SPAN_PAGES_MAX), so that the highest free span that holds a small span
 * is found in a few word scans. They have the same levels and follow one another in
 * end_bits. */
#define HEAP_BIT_MAPS 5u
static_assert(1u << (HEAP_BIT_MAPS - 1) == HEAP_SMALL_SPAN_PAGES_MAX, "a map per power to 16");

static uint64_t *bit_word(const struct heap *heap, uint32_t map, uint32_t level,
                          uint64_t word_index)
{
    KV_ASSERT(map < HEAP_BIT_MAPS && level < heap->bit_levels);
    KV_ASSERT(word_index < heap->bit_level_words[level]);
    return &heap->end_bits[(uint64_t)map * heap->bit_words + heap->bit_level_offset[level] +
                           word_index];
}

/* Sets or clears bit `index` of level 0 and carries the change up while a word's zero-ness
 * changes: at most bit_levels words. */
static void bit_change(struct heap *heap, uint32_t map, uint64_t index, bool set)
{
    KV_ASSERT(index < heap->page_count);
    for (uint32_t level = 0; level < heap->bit_levels; level++) {
        uint64_t *word = bit_word(heap, map, level, index / 64);
        uint64_t before = *word;
        uint64_t bit = 1ull << (index % 64);
        KV_ASSERT(level > 0 || ((before & bit) != 0) != set); /* level 0 bits flip */
        *word = set ? before | bit : before & ~bit;
        if ((before == 0) == (*word == 0)) {
            return;
        }
        index /= 64;
    }
}

/* The highest set bit below `limit`, or HEAP_SPAN_NONE: up the levels until a word holds a
 * set bit at or before the position, then down through the highest set bits (at most
 * 2 * bit_levels word reads). */
static uint32_t bit_last_below(const struct heap *heap, uint32_t map, uint32_t limit)
{
    KV_ASSERT(limit <= heap->page_count);
    if (limit == 0) {
        return HEAP_SPAN_NONE;
    }
    uint64_t index = limit - 1; /* the highest bit still wanted, at the current level */
    for (uint32_t level = 0; level < heap->bit_levels; level++) {
        uint64_t word = *bit_word(heap, map, level, index / 64) & (~0ull >> (63 - index % 64));
        if (word != 0) {
            index = index / 64 * 64 + 63 - (uint64_t)__builtin_clzll(word);
            for (uint32_t down = level; down > 0; down--) {
                uint64_t below = *bit_word(heap, map, down - 1, index);
                KV_ASSERT(below != 0);
                index = index * 64 + 63 - (uint64_t)__builtin_clzll(below);
            }
            KV_ASSERT(index < limit);
            return (uint32_t)index;
        }
        if (index / 64 == 0) {
            return HEAP_SPAN_NONE;
        }
        index = index / 64 - 1; /* the words before this one, as bits of the next level */
    }
    return HEAP_SPAN_NONE;
}

/* ---- Free spans ------------------------------------------------------------------------ */

static uint32_t bin_index_for(uint32_t page_count)
{
    KV_ASSERT(page_count > 0);
    if (page_count <= HEAP_BIN_EXACT) {
        return page_count - 1;
    }
    uint32_t bin = HEAP_BIN_EXACT + log2_floor(page_count) - HEAP_BIN_EXACT_SHIFT;
    KV_ASSERT(bin < HEAP_BIN_COUNT);
    return bin;
}

/* The first non-empty bin at or after `from`, or HEAP_BIN_COUNT: at most one step per word
 * of bins_nonempty (3). */
static uint32_t bin_first_nonempty(const struct heap *heap, uint32_t from)
{
    uint32_t word_count = (HEAP_BIN_COUNT + 63) / 64;
    for (uint32_t word = from / 64; word < word_count; word++) {
        uint64_t bits = heap->bins_nonempty[word];
        if (word == from / 64) {
            bits &= ~0ull << (from % 64);
        }
        if (bits != 0) {
            uint32_t bin = word * 64 + (uint32_t)__builtin_ctzll(bits);
            KV_ASSERT(bin < HEAP_BIN_COUNT && heap->bins[bin] != HEAP_SPAN_NONE);
            return bin;
        }
    }
    return HEAP_BIN_COUNT;
}

/* Records pages [first, first + count), already FREE on every page, as one free span. */
static void free_span_insert(struct heap *heap, uint32_t first, uint32_t count)
{
    KV_ASSERT(count > 0 && first + count <= heap->page_count);
    struct heap_page *head = &heap->pages[first];
    struct heap_page *last = &heap->pages[first + count - 1];
    KV_ASSERT(head->kind == HEAP_PAGE_FREE && last->kind == HEAP_PAGE_FREE);
    head->span_first = first;
    head->span_pages = count;
    last->span_first = first;
    last->span_pages = count;
    /* Bounded by HEAP_BIT_MAPS. */
    for (uint32_t map = 0; map < HEAP_BIT_MAPS && count >> map != 0; map++) {
        bit_change(heap, map, first + count - 1, true);
    }
    uint32_t bin = bin_index_for(count);
    list_push(heap, &heap->bins[bin], first);
    heap->bin_counts[bin]++;
    heap->bins_nonempty[bin / 64] |= 1ull << (bin % 64);
}

static void free_span_remove(struct heap *heap, uint32_t first)
{
    KV_ASSERT(heap->pages[first].kind == HEAP_PAGE_FREE);
    uint32_t count = heap->pages[first].span_pages;
    /* Bounded by HEAP_BIT_MAPS. */
    for (uint32_t map = 0; map < HEAP_BIT_MAPS && count >> map != 0; map++) {
        bit_change(heap, map, first + count - 1, false);
    }
    uint32_t bin = bin_index_for(count);
    KV_ASSERT(heap->bin_counts[bin] > 0);
    list_remove(heap, &heap->bins[bin], first);
    heap->bin_counts[bin]--;
    if (heap->bins[bin] == HEAP_SPAN_NONE) {
        KV_ASSERT(heap->bin_counts[bin] == 0);
        heap->bins_nonempty[bin / 64] &= ~(1ull << (bin % 64));
    }
}

/* The shortest span of at least `count` pages among the first HEAP_BIN_SCAN_MAX of a range
 * bin (stopping early at an exact fit), or HEAP_SPAN_NONE. Best fit keeps the long spans
 * long for the requests that need them; the cap keeps the scan O(1). */
static uint32_t bin_best(const struct heap *heap, uint32_t bin, uint32_t count)
{
    KV_ASSERT(bin >= HEAP_BIN_EXACT && bin < HEAP_BIN_COUNT);
    uint32_t best = HEAP_SPAN_NONE;
    uint32_t best_pages = UINT32_MAX;
    uint32_t first = heap->bins[bin];
    for (uint32_t step = 0; first != HEAP_SPAN_NONE && step < HEAP_BIN_SCAN_MAX; step++) {
        uint32_t span_pages = heap->pages[first].span_pages;
        if (span_pages >= count && span_pages < best_pages) {
            best = first;
            best_pages = span_pages;
            if (span_pages == count) {
                break;
            }
        }
        first = heap->pages[first].next;
    }
    return best;
}

/* Takes `count` pages off the free span at `first`, from its front or its tail; the rest
 * goes back to its bin. Returns the first page taken (still marked FREE in the page table,
 * for the caller to mark; already clear in the bitmap). */
static uint32_t span_cut(struct heap *heap, uint32_t first, uint32_t count, bool tail)
{
    uint32_t span_pages = heap->pages[first].span_pages;
    KV_ASSERT(span_pages >= count);
    free_span_remove(heap, first);
    uint32_t taken = first;
    if (span_pages > count && tail) {
        free_span_insert(heap, first, span_pages - count);
        taken = first + span_pages - count;
    } else if (span_pages > count) {
        free_span_insert(heap, first + count, span_pages - count);
    }
    KV_ASSERT(heap->free_pages >= count);
    heap->free_pages -= count;
    return taken;
}

/* Whether `count` more pages may leave the free ones: always inside heap_alloc_reserve and
 * heap_resize_reserve, else only while keep_free_pages stay. */
static bool pages_allowed(const struct heap *heap, uint64_t count)
{
    uint64_t floor = heap->reserve_open == HEAP_RESERVE_ALL    ? 0
                     : heap->reserve_open == HEAP_RESERVE_HALF ? heap->keep_free_pages / 2u
                                                               : heap->keep_free_pages;
    return (uint64_t)heap->free_pages >= count + floor;
}

/* First fit in a whole range bin, when the best fit among its first spans found none and
 * no later bin holds a span: its spans have at least 2^k pages each, so there are at most
 * page_count / 2^k of them (k >= 7). */
static uint32_t bin_scan(const struct heap *heap, uint32_t bin, uint32_t count)
{
    KV_ASSERT(bin >= HEAP_BIN_EXACT && bin < HEAP_BIN_COUNT);
    uint32_t first = heap->bins[bin];
    for (uint32_t step = 0; first != HEAP_SPAN_NONE; step++) {
        KV_ASSERT(step < heap->bin_counts[bin]);
        if (heap->pages[first].span_pages >= count) {
            return first;
        }
        first = heap->pages[first].next;
    }
    return HEAP_SPAN_NONE;
}

/* Takes `count` pages from the smallest adequate free span, splitting it: the front is
 * returned, the rest goes back to its bin. HEAP_SPAN_NONE when no free span is long enough.
 * In order: the exact bin, or the best fit among the first spans of the range bin that
 * `count` falls in; else the first non-empty later bin (all its spans fit: the best among
 * its first ones); else the rest of the range bin. */
static uint32_t span_take(struct heap *heap, uint32_t count)
{
    KV_ASSERT(count > 0);
    if (!pages_allowed(heap, count)) {
        return HEAP_SPAN_NONE;
    }
    uint32_t bin = bin_index_for(count);
    uint32_t first = HEAP_SPAN_NONE;
    if (bin >= HEAP_BIN_EXACT) {
        first = bin_best(heap, bin, count);
    }
    if (first == HEAP_SPAN_NONE) {
        uint32_t found = bin_first_nonempty(heap, bin < HEAP_BIN_EXACT ? bin : bin + 1);
        if (found < HEAP_BIN_EXACT) {
            first = heap->bins[found];
        } else if (found < HEAP_BIN_COUNT) {
            first = bin_best(heap, found, count);
            KV_ASSERT(first != HEAP_SPAN_NONE);
        } else if (bin >= HEAP_BIN_EXACT) {
            first = bin_scan(heap, bin, count);
        }
    }
    if (first == HEAP_SPAN_NONE) {
        return HEAP_SPAN_NONE;
    }
    return span_cut(heap, first, count, false);
}

/* A span for a small class: the tail of the highest free span long enough. Small spans so
 * gather at the top of the heap and leave the long free runs below to large allocations:
 * placed by fit alone, they landed between large spans and kept freed neighbours from
 * merging (the churn test measured 15 points less of the heap usable when full). Map k of
 * the bitmaps, with 2^k <= count < 2^(k+1), is walked down past at most HEAP_TOP_SCAN_MAX
 * spans too short; then map k + 1, whose spans all fit, gives the highest below (each step
 * O(bit levels)). Only if that has none do the bins give the best fit anywhere. */
static uint32_t span_take_top(struct heap *heap, uint32_t count)
{
    KV_ASSERT(count > 0 && count <= HEAP_SMALL_SPAN_PAGES_MAX);
    if (!pages_allowed(heap, count)) {
        return HEAP_SPAN_NONE;
    }
    uint32_t map = log2_floor(count);
    uint32_t limit = heap->page_count;
    for (uint32_t step = 0; step < HEAP_TOP_SCAN_MAX; step++) {
        uint32_t last = bit_last_below(heap, map, limit);
        if (last == HEAP_SPAN_NONE) {
            return HEAP_SPAN_NONE; /* none of 2^map pages below, and those above were short */
        }
        uint32_t first = heap->pages[last].span_first;
        KV_ASSERT(first <= last && first + heap->pages[first].span_pages - 1 == last);
        if (heap->pages[first].span_pages >= count) {
            return span_cut(heap, first, count, true);
        }
        limit = first;
    }
    KV_ASSERT(map + 1 < HEAP_BIT_MAPS); /* map 4 (16 pages) never skips: count <= 16 */
    uint32_t last = bit_last_below(heap, map + 1, limit);
    if (last != HEAP_SPAN_NONE) {
        return span_cut(heap, heap->pages[last].span_first, count, true);
    }
    return span_take(heap, count);
}

/* Gives pages [first, first + count) of a small or large span back as free, merged with a
 * free neighbour on either side: O(count) to mark the pages, O(1) to merge. */
static void span_give(struct heap *heap, uint32_t first, uint32_t count)
{
    KV_ASSERT(count > 0 && first + count <= heap->page_count);
    KV_ASSERT(heap->pages[first].kind != HEAP_PAGE_FREE);
    for (uint32_t page = first; page < first + count; page++) {
        heap->pages[page].kind = HEAP_PAGE_FREE;
    }
#ifdef KV_DEBUG
    memset(heap->base + (uint64_t)first * HEAP_PAGE_BYTES, HEAP_POISON_BYTE,
           (uint64_t)count * HEAP_PAGE_BYTES);
#endif
    heap->free_pages += count;
    uint32_t merged_first = first;
    uint32_t merged_count = count;
    if (first > 0 && heap->pages[first - 1].kind == HEAP_PAGE_FREE) {
        uint32_t left = heap->pages[first - 1].span_first;
        KV_ASSERT(left + heap->pages[left].span_pages == first);
        free_span_remove(heap, left);
        merged_first = left;
        merged_count += heap->pages[left].span_pages;
    }
    uint32_t right = first + count;
    if (right < heap->page_count && heap->pages[right].kind == HEAP_PAGE_FREE) {
        KV_ASSERT(heap->pages[right].span_first == right);
        free_span_remove(heap, right);
        merged_count += heap->pages[right].span_pages;
    }
    free_span_insert(heap, merged_first, merged_count);
}

/* Marks pages [first, first + count) as one span of `kind`: every page names its head. */
static void span_mark(struct heap *heap, uint32_t first, uint32_t count, enum heap_page_kind kind)
{
    KV_ASSERT(count > 0 && first + count <= heap->page_count);
    KV_ASSERT(kind != HEAP_PAGE_FREE);
    for (uint32_t page = first; page < first + count; page++) {
        heap->pages[page].span_first = first;
        heap->pages[page].kind = (uint8_t)kind;
    }
    struct heap_page *head = &heap->pages[first];
    head->span_pages = count;
    head->prev = HEAP_SPAN_NONE;
    head->next = HEAP_SPAN_NONE;
    head->used = 0;
    head->free_head = 0;
    head->fresh = 0;
    head->class_index = 0;
}

static uint8_t *span_base(const struct heap *heap, uint32_t first)
{
    return heap->base + (uint64_t)first * HEAP_PAGE_BYTES;
}

/* The head page of the small or large span holding `pointer`. */
static uint32_t span_of(const struct heap *heap, const void *pointer)
{
    const uint8_t *byte = pointer;
    KV_ASSERT(byte >= heap->base);
    uint64_t offset = (uint64_t)(byte - heap->base);
    KV_ASSERT(offset < (uint64_t)heap->page_count * HEAP_PAGE_BYTES);
    const struct heap_page *page = &heap->pages[offset >> HEAP_PAGE_SHIFT];
    KV_ASSERT(page->kind != HEAP_PAGE_FREE);
    KV_ASSERT(page->kind != HEAP_PAGE_CACHED);
    return page->span_first;
}

/* ---- The empty-span cache --------------------------------------------------------------- */

/* Gives every cached span back to the free spans, merged with free neighbours. */
static void cache_flush(struct heap *heap)
{
    /* Bounded by HEAP_CACHE_SPANS: each step takes one out. */
    while (heap->cache_count > 0) {
        uint32_t first = heap->cache[--heap->cache_count];
        uint32_t count = heap->pages[first].span_pages;
        KV_ASSERT(heap->pages[first].kind == HEAP_PAGE_CACHED);
        KV_ASSERT(heap->free_pages >= count);
        heap->free_pages -= count; /* span_give counts them free again */
        span_give(heap, first, count);
    }
}

/* Keeps an emptied small span (its class and page counts already given back) in the cache,
 * its pages counted free; false when the cache is full. */
static bool cache_keep(struct heap *heap, uint32_t first, uint32_t count)
{
    KV_ASSERT(count > 0 && count <= HEAP_SMALL_SPAN_PAGES_MAX);
    if (heap->cache_count == HEAP_CACHE_SPANS) {
        return false;
    }
    span_mark(heap, first, count, HEAP_PAGE_CACHED);
#ifdef KV_DEBUG
    memset(span_base(heap, first), HEAP_POISON_BYTE, (uint64_t)count * HEAP_PAGE_BYTES);
#endif
    heap->free_pages += count;
    heap->cache[heap->cache_count++] = first;
    KV_ASSERT(heap->cache_count <= HEAP_CACHE_SPANS);
    return true;
}

/* A cached span of `count` pages, the newest, out of the cache and out of the free pages (as
 * the reserve allows); HEAP_SPAN_NONE when there is none. Its head is reset (span_mark). */
static uint32_t cache_take(struct heap *heap, uint32_t count)
{
    /* Bounded by HEAP_CACHE_SPANS. */
    for (uint32_t index = heap->cache_count; index-- > 0;) {
        uint32_t first = heap->cache[index];
        KV_ASSERT(heap->pages[first].kind == HEAP_PAGE_CACHED);
        if (heap->pages[first].span_pages != count) {
            continue;
        }
        if (!pages_allowed(heap, count)) {
            return HEAP_SPAN_NONE;
        }
        heap->cache[index] = heap->cache[--heap->cache_count];
        heap->free_pages -= count;
        return first;
    }
    return HEAP_SPAN_NONE;
}

/* ---- Small objects --------------------------------------------------------------------- */

static uint32_t free_mark(const struct heap *heap, const uint8_t *object)
{
    return HEAP_FREE_MARK ^ heap_ref(heap, object);
}

/* Whether `index` is on the span's free list: the walk is bounded by the span's objects. */
static bool free_list_holds(const struct heap *heap, uint32_t first, uint32_t index)
{
    const struct heap_page *head = &heap->pages[first];
    const struct heap_class *class = &heap->classes[head->class_index];
    uint32_t next = head->free_head;
    for (uint32_t step = 0; next != 0; step++) {
        KV_ASSERT(step < class->objects);
        if (next - 1 == index) {
            return true;
        }
        struct heap_free_object link;
        memcpy(&link, span_base(heap, first) + (uint64_t)(next - 1) * class->object_bytes,
               sizeof(link));
        next = link.next;
    }
    return false;
}

#ifdef KV_DEBUG
/* A free object is poison past its link: anything else was written after its release. */
static bool poison_intact(const uint8_t *object, uint32_t object_bytes)
{
    for (uint32_t offset = sizeof(struct heap_free_object); offset < object_bytes; offset++) {
        if (object[offset] != HEAP_POISON_BYTE) {
            return false;
        }
    }
    return true;
}
#endif

/* Takes a span for `class_index` and puts it on the class's partial list. */
static uint32_t small_span_new(struct heap *heap, uint32_t class_index)
{
    struct heap_class *class = &heap->classes[class_index];
    uint32_t first = cache_take(heap, class->span_pages);
    if (first == HEAP_SPAN_NONE) {
        first = span_take_top(heap, class->span_pages);
    }
    if (first == HEAP_SPAN_NONE && heap->cache_count > 0) {
        cache_flush(heap);
        first = span_take_top(heap, class->span_pages);
    }
    if (first == HEAP_SPAN_NONE) {
        return HEAP_SPAN_NONE;
    }
    span_mark(heap, first, class->span_pages, HEAP_PAGE_SMALL);
    struct heap_page *head = &heap->pages[first];
    head->class_index = (uint8_t)class_index;
    head->fresh = (uint16_t)class->objects;
    list_push(heap, &class->partial, first);
    class->spans++;
    heap->small_pages += class->span_pages;
    KV_ASSERT(class->partial == first);
    return first;
}

static void *small_alloc(struct heap *heap, uint32_t class_index)
{
    struct heap_class *class = &heap->classes[class_index];
    uint32_t first = class->partial;
    if (first == HEAP_SPAN_NONE) {
        first = small_span_new(heap, class_index);
        if (first == HEAP_SPAN_NONE) {
            return NULL;
        }
    }
    struct heap_page *head = &heap->pages[first];
    KV_ASSERT(head->kind == HEAP_PAGE_SMALL && head->class_index == class_index);
    uint8_t *object = NULL;
    struct heap_free_object link;
    if (head->free_head != 0) {
        object = span_base(heap, first) + (uint64_t)(head->free_head - 1) * class->object_bytes;
        memcpy(&link, object, sizeof(link));
        /* A wrong mark: the object was written while free, or the list is corrupt. */
        KV_ASSERT(link.mark == free_mark(heap, object));
        KV_ASSERT(link.next <= class->objects);
        KV_DEBUG_ASSERT(poison_intact(object, class->object_bytes));
        head->free_head = link.next;
    } else {
        KV_ASSERT(head->fresh > 0);
        object = span_base(heap, first) + (uint64_t)(class->objects - head->fresh) *
                                              class->object_bytes;
        head->fresh--;
    }
    /* Clear the mark, so that releasing this object while live never looks like a double
     * release (a stale mark from an earlier life at this address would match). */
    memset(&link, 0, sizeof(link));
    memcpy(object, &link, sizeof(link));
    head->used++;
    if (head->free_head == 0 && head->fresh == 0) {
        list_remove(heap, &class->partial, first);
    }
    class->objects_used++;
    heap->used_bytes += class->object_bytes;
    KV_ASSERT(head->used <= class->objects);
    return object;
}

static void small_release(struct heap *heap, uint32_t first, uint8_t *object)
{
    struct heap_page *head = &heap->pages[first];
    KV_ASSERT(head->class_index < heap->class_count);
    struct heap_class *class = &heap->classes[head->class_index];
    uint32_t offset = (uint32_t)(object - span_base(heap, first));
    uint32_t index = (uint32_t)(((uint64_t)offset * class->reciprocal) >> 32);
    KV_ASSERT(index * class->object_bytes == offset); /* on an object's first byte */
    KV_ASSERT(index < class->objects - head->fresh);  /* handed out once */
    KV_ASSERT(head->used > 0);
    struct heap_free_object link;
    memcpy(&link, object, sizeof(link));
    if (link.mark == free_mark(heap, object)) {
        /* Rare unless released twice: live bytes equal to the mark by chance. */
        KV_ASSERT(!free_list_holds(heap, first, index));
    }
    bool was_full = head->free_head == 0 && head->fresh == 0;
#ifdef KV_DEBUG
    memset(object, HEAP_POISON_BYTE, class->object_bytes);
#endif
    link.next = head->free_head;
    link.reserved = 0;
    link.mark = free_mark(heap, object);
    memcpy(object, &link, sizeof(link));
    head->free_head = (uint16_t)(index + 1);
    head->used--;
    KV_ASSERT(class->objects_used > 0);
    class->objects_used--;
    heap->used_bytes -= class->object_bytes;
    if (head->used == 0) {
        /* The span is empty: back to the free spans at once, so any size can use it. */
        if (!was_full) {
            list_remove(heap, &class->partial, first);
        }
        KV_ASSERT(class->spans > 0 && heap->small_pages >= class->span_pages);
        class->spans--;
        heap->small_pages -= class->span_pages;
        if (!cache_keep(heap, first, class->span_pages)) {
            span_give(heap, first, class->span_pages);
        }
    } else if (was_full) {
        list_push(heap, &class->partial, first);
    }
}

/* ---- Large spans ----------------------------------------------------------------------- */

static uint64_t pages_for(uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    return (bytes - 1) / HEAP_PAGE_BYTES + 1;
}

static void *large_alloc(struct heap *heap, uint32_t count)
{
    KV_ASSERT(count > 0);
    uint32_t first = span_take(heap, count);
    if (first == HEAP_SPAN_NONE && heap->cache_count > 0) {
        cache_flush(heap);
        first = span_take(heap, count);
    }
    if (first == HEAP_SPAN_NONE) {
        return NULL;
    }
    span_mark(heap, first, count, HEAP_PAGE_LARGE);
    heap->large_pages += count;
    heap->used_bytes += (uint64_t)count * HEAP_PAGE_BYTES;
    KV_ASSERT(heap->large_pages + heap->small_pages + heap->free_pages == heap->page_count);
    return span_base(heap, first);
}

static void large_release(struct heap *heap, uint32_t first)
{
    uint32_t count = heap->pages[first].span_pages;
    KV_ASSERT(count > 0 && heap->large_pages >= count);
    heap->large_pages -= count;
    heap->used_bytes -= (uint64_t)count * HEAP_PAGE_BYTES;
    span_give(heap, first, count);
}

/* Grows a large span in place into its free right neighbour: false when that is too short. */
static bool large_grow(struct heap *heap, uint32_t first, uint32_t count)
{
    uint32_t old_count = heap->pages[first].span_pages;
    KV_ASSERT(count > old_count);
    uint32_t right = first + old_count;
    if (right < heap->page_count && heap->pages[right].kind == HEAP_PAGE_CACHED) {
        cache_flush(heap); /* the neighbour may be a cached span: merge it first */
    }
    if (right >= heap->page_count || heap->pages[right].kind != HEAP_PAGE_FREE) {
        return false;
    }
    uint32_t right_pages = heap->pages[right].span_pages;
    uint32_t extra = count - old_count;
    if (right_pages < extra || !pages_allowed(heap, extra)) {
        return false;
    }
    free_span_remove(heap, right);
    if (right_pages > extra) {
        free_span_insert(heap, right + extra, right_pages - extra);
    }
    heap->free_pages -= extra;
    /* Re-marking the whole span is O(count), like taking it afresh. */
    span_mark(heap, first, count, HEAP_PAGE_LARGE);
    heap->large_pages += extra;
    heap->used_bytes += (uint64_t)extra * HEAP_PAGE_BYTES;
    return true;
}

/* Shrinks a large span in place: its tail pages go back to the free spans. */
static void large_shrink(struct heap *heap, uint32_t first, uint32_t count)
{
    uint32_t old_count = heap->pages[first].span_pages;
    KV_ASSERT(count > 0 && count < old_count);
    heap->pages[first].span_pages = count;
    heap->large_pages -= old_count - count;
    heap->used_bytes -= (uint64_t)(old_count - count) * HEAP_PAGE_BYTES;
    span_give(heap, first + count, old_count - count);
}

/* ---- Public interface ------------------------------------------------------------------ */

uint64_t heap_capacity_bytes(uint64_t bytes)
{
    uint64_t capacity = bytes / HEAP_PAGE_BYTES * HEAP_PAGE_BYTES;
    KV_ASSERT(capacity <= bytes);
    return capacity;
}

uint64_t heap_plan_bytes(uint64_t bytes)
{
    uint64_t page_count = bytes / HEAP_PAGE_BYTES;
    KV_ASSERT(page_count > 0);
    KV_ASSERT(page_count * HEAP_PAGE_BYTES <= HEAP_BYTES_MAX);
    uint64_t table_bytes = page_count * sizeof(struct heap_page);
    uint64_t bit_bytes = bit_words_total(page_count) * HEAP_BIT_MAPS * sizeof(uint64_t);
    return HEAP_PAGE_BYTES +                          /* align the pages from any cursor */
           page_count * HEAP_PAGE_BYTES +             /* the pages */
           round_up(table_bytes, HEAP_TABLE_ALIGN) +  /* the page table, to a line's end */
           round_up(bit_bytes, HEAP_TABLE_ALIGN);     /* the bitmaps, likewise */
}

static void bit_maps_init(struct heap *heap, struct region *region)
{
    heap->bit_levels = bit_level_shape(heap->page_count, heap->bit_level_words);
    uint64_t words = 0;
    for (uint32_t level = 0; level < heap->bit_levels; level++) {
        heap->bit_level_offset[level] = (uint32_t)words;
        words += heap->bit_level_words[level];
    }
    heap->bit_words = (uint32_t)words;
    uint64_t bytes = words * HEAP_BIT_MAPS * sizeof(uint64_t);
    heap->end_bits = region_carve(region, bytes, HEAP_TABLE_ALIGN);
    memset(heap->end_bits, 0, bytes);
    KV_ASSERT(words == bit_words_total(heap->page_count));
    KV_ASSERT(heap->bit_level_words[heap->bit_levels - 1] == 1);
}

void heap_init(struct heap *heap, struct region *region, uint64_t bytes)
{
    uint64_t page_count = bytes / HEAP_PAGE_BYTES;
    KV_ASSERT(page_count > 0);
    KV_ASSERT(page_count * HEAP_PAGE_BYTES <= HEAP_BYTES_MAX);
    uint64_t carved_start = region->carved_bytes;
    memset(heap, 0, sizeof(*heap));
    heap->page_count = (uint32_t)page_count;
    heap->base = region_carve(region, page_count * HEAP_PAGE_BYTES, HEAP_PAGE_BYTES);
    heap->pages = region_carve(region, page_count * sizeof(struct heap_page), HEAP_TABLE_ALIGN);
    /* Zero is a FREE page; the one free span's first and last entries are set below. */
    memset(heap->pages, 0, page_count * sizeof(struct heap_page));
    bit_maps_init(heap, region);
#ifdef KV_DEBUG
    memset(heap->base, HEAP_POISON_BYTE, page_count * HEAP_PAGE_BYTES);
#endif
    classes_init(heap);
    for (uint32_t bin = 0; bin < HEAP_BIN_COUNT; bin++) {
        heap->bins[bin] = HEAP_SPAN_NONE;
    }
    heap->free_pages = heap->page_count;
    free_span_insert(heap, 0, heap->page_count);
    KV_ASSERT(region->carved_bytes - carved_start <= heap_plan_bytes(bytes));
    KV_ASSERT((uintptr_t)heap->base % HEAP_PAGE_BYTES == 0);
}

void *heap_alloc(struct heap *heap, uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    void *pointer = NULL;
    if (bytes <= HEAP_SMALL_BYTES_MAX) {
        pointer = small_alloc(heap, class_index_for(bytes));
    } else if (bytes <= (uint64_t)heap->page_count * HEAP_PAGE_BYTES) {
        pointer = large_alloc(heap, (uint32_t)pages_for(bytes));
    }
    if (pointer == NULL) {
        heap->failed_allocations++;
        return NULL;
    }
    heap->allocations++;
    if (heap->used_bytes > heap->peak_used_bytes) {
        heap->peak_used_bytes = heap->used_bytes;
    }
    KV_ASSERT((uintptr_t)pointer % HEAP_ALIGN == 0);
    return pointer;
}

void heap_release(struct heap *heap, void *pointer)
{
    KV_ASSERT(pointer != NULL);
    KV_ASSERT(heap->allocations > 0);
    uint32_t first = span_of(heap, pointer);
    if (heap->pages[first].kind == HEAP_PAGE_SMALL) {
        small_release(heap, first, pointer);
    } else {
        KV_ASSERT(pointer == span_base(heap, first)); /* a large allocation's first byte */
        large_release(heap, first);
    }
    heap->allocations--;
    if (heap->allocations == 0) {
        cache_flush(heap); /* an empty heap is one free span again */
    }
}

uint64_t heap_usable_bytes(const struct heap *heap, const void *pointer)
{
    uint32_t first = span_of(heap, pointer);
    const struct heap_page *head = &heap->pages[first];
    if (head->kind == HEAP_PAGE_LARGE) {
        KV_ASSERT(pointer == span_base(heap, first));
        return (uint64_t)head->span_pages * HEAP_PAGE_BYTES;
    }
    KV_ASSERT(head->class_index < heap->class_count);
    const struct heap_class *class = &heap->classes[head->class_index];
    KV_ASSERT((uint64_t)((const uint8_t *)pointer - span_base(heap, first)) %
                  class->object_bytes == 0);
    return class->object_bytes;
}

uint64_t heap_rounded_bytes(uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    if (bytes <= HEAP_SMALL_BYTES_MAX) {
        return class_object_bytes_for(class_index_for(bytes));
    }
    KV_ASSERT(bytes <= UINT64_MAX - HEAP_PAGE_BYTES); /* the rounded size fits */
    return pages_for(bytes) * HEAP_PAGE_BYTES;
}

/* Moves an allocation to a fresh one of `bytes`: NULL (the old one untouched) when full. */
static void *resize_move(struct heap *heap, void *pointer, uint64_t bytes)
{
    uint64_t old_bytes = heap_usable_bytes(heap, pointer);
    void *moved = heap_alloc(heap, bytes);
    if (moved == NULL) {
        /* A shrink still fits where it is: keep it rather than fail. */
        return bytes <= old_bytes ? pointer : NULL;
    }
    memcpy(moved, pointer, old_bytes < bytes ? old_bytes : bytes);
    heap_release(heap, pointer);
    return moved;
}

void *heap_resize(struct heap *heap, void *pointer, uint64_t bytes)
{
    KV_ASSERT(pointer != NULL);
    KV_ASSERT(bytes > 0);
    uint32_t first = span_of(heap, pointer);
    const struct heap_page *head = &heap->pages[first];
    if (head->kind == HEAP_PAGE_SMALL) {
        if (bytes <= HEAP_SMALL_BYTES_MAX && class_index_for(bytes) == head->class_index) {
            return pointer;
        }
        return resize_move(heap, pointer, bytes);
    }
    KV_ASSERT(pointer == span_base(heap, first));
    if (bytes <= HEAP_SMALL_BYTES_MAX || bytes > (uint64_t)heap->page_count * HEAP_PAGE_BYTES) {
        return resize_move(heap, pointer, bytes);
    }
    uint32_t count = (uint32_t)pages_for(bytes);
    if (count < head->span_pages) {
        large_shrink(heap, first, count);
    } else if (count > head->span_pages && !large_grow(heap, first, count)) {
        return resize_move(heap, pointer, bytes);
    }
    if (heap->used_bytes > heap->peak_used_bytes) {
        heap->peak_used_bytes = heap->used_bytes;
    }
    KV_ASSERT(heap->pages[first].span_pages == count);
    return pointer;
}

/*
 * Whether `needed` spans of `count` pages can be taken now. span_take splits the front off a
 * span and returns the rest, so a free span of L pages yields floor(L / count) of them and
 * taking fails only once no span is long enough: the answer is whether the sum of
 * floor(L / count) over the free spans reaches `needed`. Exact bins are summed through their
 * counts (HEAP_BIN_EXACT steps); range bins are walked, largest first, stopping once enough
 * is found: their spans have more than HEAP_BIN_EXACT pages, so at most page_count /
 * HEAP_BIN_EXACT of them.
 */
static bool spans_fit(const struct heap *heap, uint32_t count, uint64_t needed)
{
    KV_ASSERT(count > 0);
    if (needed == 0) {
        return true;
    }
    /* needed <= free_pages first, so that needed * count cannot overflow. */
    if (needed > heap->free_pages || (uint64_t)heap->free_pages < needed * count) {
        return false;
    }
    if (count == 1) {
        return true;
    }
    uint64_t found = 0;
    uint32_t visited = 0;
    for (uint32_t bin = HEAP_BIN_COUNT; bin-- > HEAP_BIN_EXACT;) {
        for (uint32_t first = heap->bins[bin]; first != HEAP_SPAN_NONE;
             first = heap->pages[first].next) {
            KV_ASSERT(visited < heap->page_count);
            visited++;
            found += heap->pages[first].span_pages / count;
            if (found >= needed) {
                return true;
            }
        }
    }
    for (uint32_t pages = HEAP_BIN_EXACT; pages >= count; pages--) {
        found += (uint64_t)heap->bin_counts[pages - 1] * (pages / count);
        if (found >= needed) {
            return true;
        }
    }
    return false;
}

bool heap_would_fit(struct heap *heap, uint64_t bytes, uint64_t count)
{
    KV_ASSERT(bytes > 0);
    cache_flush(heap); /* the free spans then say exactly what heap_alloc can give */
    if (count == 0) {
        return true;
    }
    if (bytes > HEAP_SMALL_BYTES_MAX) {
        if (bytes > (uint64_t)heap->page_count * HEAP_PAGE_BYTES) {
            return false;
        }
        return pages_allowed(heap, pages_for(bytes) * count) &&
               spans_fit(heap, (uint32_t)pages_for(bytes), count);
    }
    const struct heap_class *class = &heap->classes[class_index_for(bytes)];
    uint64_t free_objects = class->spans * class->objects - class->objects_used;
    if (count <= free_objects) {
        return true;
    }
    uint64_t missing = count - free_objects;
    uint64_t spans_needed = missing / class->objects + (missing % class->objects != 0);
    return pages_allowed(heap, spans_needed * class->span_pages) &&
           spans_fit(heap, class->span_pages, spans_needed);
}

void heap_keep_free(struct heap *heap, uint64_t bytes)
{
    uint64_t pages = bytes / HEAP_PAGE_BYTES + (bytes % HEAP_PAGE_BYTES != 0);
    KV_ASSERT(pages <= heap->page_count);
    heap->keep_free_pages = (uint32_t)pages;
}

void *heap_alloc_counted(struct heap *heap, uint64_t bytes, uint64_t *counted)
{
    void *pointer = heap_alloc(heap, bytes);
    if (pointer != NULL) {
        uint64_t usable = heap_usable_bytes(heap, pointer);
        KV_ASSERT(usable >= bytes);
        *counted += usable;
    }
    return pointer;
}

void heap_release_counted(struct heap *heap, void *pointer, uint64_t *counted)
{
    uint64_t usable = heap_usable_bytes(heap, pointer);
    KV_ASSERT(*counted >= usable);
    *counted -= usable;
    heap_release(heap, pointer);
}

enum heap_reserve heap_reserve_set(struct heap *heap, enum heap_reserve open)
{
    KV_ASSERT(open <= HEAP_RESERVE_ALL);
    enum heap_reserve before = (enum heap_reserve)heap->reserve_open;
    heap->reserve_open = (uint8_t)open;
    return before;
}

void *heap_alloc_reserve(struct heap *heap, uint64_t bytes)
{
    enum heap_reserve before = heap_reserve_set(heap, HEAP_RESERVE_ALL);
    void *pointer = heap_alloc(heap, bytes);
    (void)heap_reserve_set(heap, before);
    return pointer;
}

void *heap_resize_reserve(struct heap *heap, void *pointer, uint64_t bytes)
{
    enum heap_reserve before = heap_reserve_set(heap, HEAP_RESERVE_ALL);
    void *resized = heap_resize(heap, pointer, bytes);
    (void)heap_reserve_set(heap, before);
    return resized;
}

uint64_t heap_free_bytes(const struct heap *heap)
{
    uint64_t bytes = (uint64_t)heap->free_pages * HEAP_PAGE_BYTES;
    /* Bounded by class_count. */
    for (uint32_t index = 0; index < heap->class_count; index++) {
        const struct heap_class *class = &heap->classes[index];
        KV_ASSERT(class->objects_used <= class->spans * class->objects);
        bytes += (class->spans * class->objects - class->objects_used) * class->object_bytes;
    }
    KV_ASSERT(bytes + heap->used_bytes <= (uint64_t)heap->page_count * HEAP_PAGE_BYTES);
    return bytes;
}

/* ---- Verification ---------------------------------------------------------------------- */

/* What heap_verify's page walk adds up, to compare with the counters. */
struct heap_tally {
    uint64_t free_pages;
    uint64_t small_pages;
    uint64_t large_pages;
    uint64_t free_spans;
    uint64_t cached_spans;
    uint64_t partial_spans;     /* small spans with a free object */
    uint64_t small_spans;
    uint64_t used_bytes;
    uint64_t allocations;
    uint64_t class_weighted;    /* sum of (class index + 1) over small spans */
    uint64_t used_weighted;     /* sum of used * (class index + 1) over small spans */
};

/* One small span: used + free list + fresh == objects, each free object marked. */
static void verify_small_span(const struct heap *heap, uint32_t first, struct heap_tally *tally)
{
    const struct heap_page *head = &heap->pages[first];
    KV_ASSERT(head->class_index < heap->class_count);
    const struct heap_class *class = &heap->classes[head->class_index];
    KV_ASSERT(head->span_pages == class->span_pages);
    KV_ASSERT(head->used > 0);
    KV_ASSERT(head->fresh <= class->objects);
    uint32_t free_count = 0;
    uint32_t next = head->free_head;
    /* A repeated index would loop: the bound catches it. */
    for (uint32_t step = 0; next != 0; step++) {
        KV_ASSERT(step < class->objects);
        KV_ASSERT(next - 1u < class->objects - head->fresh);
        const uint8_t *object = span_base(heap, first) + (uint64_t)(next - 1) * class->object_bytes;
        struct heap_free_object link;
        memcpy(&link, object, sizeof(link));
        KV_ASSERT(link.mark == free_mark(heap, object));
        free_count++;
        next = link.next;
    }
    KV_ASSERT(head->used + free_count + head->fresh == class->objects);
    tally->small_spans++;
    tally->partial_spans += head->used < class->objects;
    tally->used_bytes += (uint64_t)head->used * class->object_bytes;
    tally->allocations += head->used;
    tally->class_weighted += head->class_index + 1u;
    tally->used_weighted += (uint64_t)head->used * (head->class_index + 1u);
}

/* Every page of the span at `first` agrees with its head. */
static void verify_span_pages(const struct heap *heap, uint32_t first, uint32_t count)
{
    const struct heap_page *head = &heap->pages[first];
    for (uint32_t page = first; page < first + count; page++) {
        KV_ASSERT(heap->pages[page].kind == head->kind);
        if (head->kind != HEAP_PAGE_FREE || page == first + count - 1) {
            KV_ASSERT(heap->pages[page].span_first == first);
        }
    }
    if (head->kind == HEAP_PAGE_FREE) {
        KV_ASSERT(heap->pages[first + count - 1].span_pages == count);
    }
}

/* Walks the spans in address order: each page is visited once, so O(page_count). */
static void verify_pages(const struct heap *heap, struct heap_tally *tally)
{
    uint32_t page = 0;
    bool previous_free = false;
    for (uint32_t step = 0; page < heap->page_count; step++) {
        KV_ASSERT(step < heap->page_count);
        const struct heap_page *head = &heap->pages[page];
        uint32_t count = head->span_pages;
        KV_ASSERT(head->span_first == page);
        KV_ASSERT(count > 0 && count <= heap->page_count - page);
        verify_span_pages(heap, page, count);
        if (head->kind == HEAP_PAGE_FREE) {
            KV_ASSERT(!previous_free); /* free neighbours always merge */
            tally->free_pages += count;
            tally->free_spans++;
        } else if (head->kind == HEAP_PAGE_CACHED) {
            KV_ASSERT(count <= HEAP_SMALL_SPAN_PAGES_MAX);
            tally->free_pages += count;
            tally->cached_spans++;
        } else if (head->kind == HEAP_PAGE_SMALL) {
            tally->small_pages += count;
            verify_small_span(heap, page, tally);
        } else {
            KV_ASSERT(head->kind == HEAP_PAGE_LARGE);
            KV_ASSERT((uint64_t)count * HEAP_PAGE_BYTES > HEAP_SMALL_BYTES_MAX);
            tally->large_pages += count;
            tally->used_bytes += (uint64_t)count * HEAP_PAGE_BYTES;
            tally->allocations++;
        }
        previous_free = head->kind == HEAP_PAGE_FREE;
        page += count;
    }
    KV_ASSERT(page == heap->page_count);
}

/* Each bin lists free heads of its range, doubly linked; all bins together list as many
 * spans as the page walk found free, so (no span fits two bins, a doubly linked list cannot
 * repeat a span without looping) exactly the free spans. */
static void verify_bins(const struct heap *heap, const struct heap_tally *tally)
{
    uint64_t listed = 0;
    for (uint32_t bin = 0; bin < HEAP_BIN_COUNT; bin++) {
        uint32_t previous = HEAP_SPAN_NONE;
        uint32_t in_bin = 0;
        for (uint32_t first = heap->bins[bin]; first != HEAP_SPAN_NONE;
             first = heap->pages[first].next) {
            KV_ASSERT(listed < heap->page_count);
            KV_ASSERT(first < heap->page_count);
            listed++;
            const struct heap_page *head = &heap->pages[first];
            KV_ASSERT(head->kind == HEAP_PAGE_FREE && head->span_first == first);
            KV_ASSERT(bin_index_for(head->span_pages) == bin);
            KV_ASSERT(head->prev == previous);
            previous = first;
            in_bin++;
        }
        KV_ASSERT(in_bin == heap->bin_counts[bin]);
        bool nonempty = (heap->bins_nonempty[bin / 64] >> (bin % 64)) & 1u;
        KV_ASSERT(nonempty == (in_bin > 0));
    }
    KV_ASSERT(listed == tally->free_spans);
}

/* Each partial list holds spans of its class with a free object; together as many as the
 * page walk found. The per-class counters are checked through sums weighted by class, which
 * a counter moved from one class to another would upset. */
static void verify_classes(const struct heap *heap, const struct heap_tally *tally)
{
    KV_ASSERT(heap->class_count == HEAP_CLASS_COUNT);
    uint64_t listed = 0;
    uint64_t spans = 0;
    uint64_t small_pages = 0;
    uint64_t class_weighted = 0;
    uint64_t used_weighted = 0;
    uint64_t used_bytes = 0;
    for (uint32_t index = 0; index < heap->class_count; index++) {
        const struct heap_class *class = &heap->classes[index];
        uint32_t previous = HEAP_SPAN_NONE;
        for (uint32_t first = class->partial; first != HEAP_SPAN_NONE;
             first = heap->pages[first].next) {
            KV_ASSERT(listed < heap->page_count);
            listed++;
            const struct heap_page *head = &heap->pages[first];
            KV_ASSERT(head->kind == HEAP_PAGE_SMALL && head->span_first == first);
            KV_ASSERT(head->class_index == index);
            KV_ASSERT(head->used < class->objects);
            KV_ASSERT(head->prev == previous);
            previous = first;
        }
        KV_ASSERT(class->objects_used <= class->spans * class->objects);
        spans += class->spans;
        small_pages += class->spans * class->span_pages;
        class_weighted += class->spans * (index + 1u);
        used_weighted += class->objects_used * (index + 1u);
        used_bytes += class->objects_used * class->object_bytes;
    }
    KV_ASSERT(listed == tally->partial_spans);
    KV_ASSERT(spans == tally->small_spans);
    KV_ASSERT(small_pages == tally->small_pages);
    KV_ASSERT(class_weighted == tally->class_weighted);
    KV_ASSERT(used_weighted == tally->used_weighted);
    KV_ASSERT(used_bytes + (uint64_t)heap->large_pages * HEAP_PAGE_BYTES == heap->used_bytes);
}

/* Whether bit `index` of `map` at `level` is set. */
static bool bit_is_set(const struct heap *heap, uint32_t map, uint32_t level,
                       uint64_t index)
{
    return (*bit_word(heap, map, level, index / 64) >> (index % 64)) & 1u;
}

/* Level 0 of each bitmap marks exactly the ends of its free spans (nothing past
 * page_count); each bit above is set exactly when its word below is non-zero. The free
 * spans' last pages hold their first page (the page walk checked), so a page ends a free
 * span when it is free and the next page is not. O(page_count). */
static void verify_bits(const struct heap *heap)
{
    for (uint32_t page = 0; page < heap->bit_level_words[0] * 64u; page++) {
        bool end = page < heap->page_count && heap->pages[page].kind == HEAP_PAGE_FREE &&
                   (page + 1 == heap->page_count || heap->pages[page + 1].kind != HEAP_PAGE_FREE);
        uint32_t count = end ? page + 1 - heap->pages[page].span_first : 0;
        for (uint32_t map = 0; map < HEAP_BIT_MAPS; map++) {
            KV_ASSERT(bit_is_set(heap, map, 0, page) == (end && count >> map != 0));
        }
    }
    for (uint32_t map = 0; map < HEAP_BIT_MAPS; map++) {
        for (uint32_t level = 1; level < heap->bit_levels; level++) {
            for (uint32_t index = 0; index < heap->bit_level_words[level] * 64u; index++) {
                bool below = index < heap->bit_level_words[level - 1] &&
                             *bit_word(heap, map, level - 1, index) != 0;
                KV_ASSERT(bit_is_set(heap, map, level, index) == below);
            }
        }
    }
}

void heap_verify(const struct heap *heap)
{
    KV_ASSERT(heap->page_count > 0);
    KV_ASSERT((uint64_t)heap->page_count * HEAP_PAGE_BYTES <= HEAP_BYTES_MAX);
    struct heap_tally tally;
    memset(&tally, 0, sizeof(tally));
    verify_pages(heap, &tally);
    KV_ASSERT(tally.free_pages == heap->free_pages);
    KV_ASSERT(tally.small_pages == heap->small_pages);
    KV_ASSERT(tally.large_pages == heap->large_pages);
    KV_ASSERT(tally.used_bytes == heap->used_bytes);
    KV_ASSERT(tally.allocations == heap->allocations);
    KV_ASSERT(heap->used_bytes <= heap->peak_used_bytes);
    KV_ASSERT(tally.cached_spans == heap->cache_count);
    /* The cache names heads of cached spans, each once (the walk counted as many). */
    for (uint32_t index = 0; index < heap->cache_count; index++) {
        uint32_t first = heap->cache[index];
        KV_ASSERT(first < heap->page_count);
        KV_ASSERT(heap->pages[first].kind == HEAP_PAGE_CACHED);
        KV_ASSERT(heap->pages[first].span_first == first);
        for (uint32_t before = 0; before < index; before++) {
            KV_ASSERT(heap->cache[before] != first);
        }
    }
    verify_bins(heap, &tally);
    verify_classes(heap, &tally);
    verify_bits(heap);
}
