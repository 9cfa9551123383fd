/*
 * SORT and SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
 * [STORE destination], with Redis 7.0's replies, errors and order of checks (sort.c): the
 * options are parsed first, then the key is read (a list, set or sorted set; absent: empty).
 *
 * The work is bounded by the source and the arguments, and every byte of it comes from the
 * heap and goes back before the command ends: a vector of one entry per element (its bytes,
 * copied into one arena so an intset's digits and a key STORE replaces stay valid, its
 * numeric weight or its BY value), an index order sorted by a bottom-up merge sort (no
 * recursion; stable, as glibc's qsort merge sort, so equal weights keep the source's order
 * as Redis's do), and a buffer for the keys a pattern names. A heap too full for them answers
 * Redis's OOM error, having changed nothing. A BY value (ALPHA) is a slice into the store:
 * it stays valid through the command because the clock is fixed for the command, so a key
 * found live is not expired by the lookups after it, and lookups change no live key.
 *
 * STORE builds the result (GET values, or the elements) in a second arena before the
 * destination goes, since the destination may be the source or a key a pattern reads; then
 * replaces it with a new list (no expiry, as Redis's setKey), or removes it when the result
 * is empty. Its caps are checked before anything changes.
 *
 * Differences left: Redis converts a listpack sorted set to a skiplist for good when SORTing
 * it (OBJECT ENCODING then says skiplist); kv leaves the set as it was. Ties between ALPHA BY weights with a partial LIMIT follow a stable order, where Redis's
 * pqsort has its own.
 */
#include "cmd_handlers.h"

#include "cluster.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "number.h"
#include "script.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"

/* A weight no longer than this is converted from the stack; a longer one takes the heap. */
#define SORT_NUMBER_STACK_BYTES 128u

/* One element to sort. */
struct sort_entry {
    struct slice element; /* its bytes, in the arena */
    struct slice by;      /* ALPHA with BY: the weight's bytes (in the store) */
    double score;         /* numeric: the weight (0 when BY finds nothing) */
    bool by_found;        /* ALPHA with BY: the pattern found a value */
};

/* What the options said. */
struct sort_options {
    bool desc;
    bool alpha;
    bool dontsort;             /* BY without '*': no weights, the source's order */
    bool store;                /* STORE given */
    int64_t limit_start;
    int64_t limit_count;       /* -1: to the end */
    struct slice by;           /* the BY pattern, when has_by */
    bool has_by;
    struct slice destination;  /* STORE's key */
    uint32_t get_count;        /* GET options (their patterns are found again by
                                  sort_next_get) */
};

/* The command's heap work: released by sort_work_release whatever happened. */
struct sort_work {
    struct heap *heap;
    struct sort_entry *entries; /* entry_count of them */
    uint32_t entry_count;
    uint8_t *arena;             /* the elements' bytes */
    uint32_t *order;            /* entry indexes, sorted; then merge scratch after them */
    uint8_t *key_buffer;        /* room for a pattern with an element in it */
    uint64_t key_buffer_bytes;
    bool uncounted;             /* lookups count no keyspace hit or miss (STORE's measuring
                                   pass: Redis looks each GET up once) */
    struct slice *values;       /* STORE: the result's values */
    uint8_t *value_arena;       /* STORE: their bytes */
};

static void sort_work_release(struct sort_work *work)
{
    KV_ASSERT(work->heap != NULL);
    void *held[] = {work->entries, work->arena, work->order, work->key_buffer, work->values,
                    work->value_arena};
    /* Bounded by the six allocations. */
    for (uint32_t index = 0; index < sizeof(held) / sizeof(held[0]); index++) {
        if (held[index] != NULL) {
            heap_release(work->heap, held[index]);
        }
    }
    *work = (struct sort_work){.heap = work->heap, .uncounted = work->uncounted};
    KV_ASSERT(work->entries == NULL);
}

/* Takes `bytes` (0: none) for the command's work; false when the heap has no room. */
static bool sort_take(struct sort_work *work, uint64_t bytes, void **pointer)
{
    KV_ASSERT(*pointer == NULL);
    if (bytes == 0) {
        return true;
    }
    *pointer = heap_alloc(work->heap, bytes);
    return *pointer != NULL;
}

/* The C-string length of a slice: up to its first NUL byte, as Redis's strchr and strcoll
 * see an sds. */
static uint32_t text_length(struct slice bytes)
{
    const uint8_t *nul = bytes.length > 0 ? memchr(bytes.bytes, 0, bytes.length) : NULL;
    return nul != NULL ? (uint32_t)(nul - bytes.bytes) : bytes.length;
}

/* Parses the options as Redis's loop does; false after answering the error. */
static bool sort_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       bool readonly, struct sort_options *options)
{
    KV_ASSERT(arg_count >= 2);
    *options = (struct sort_options){.limit_count = -1};
    /* Bounded by the arguments: each step consumes at least one. */
    for (uint32_t index = 2; index < arg_count; index++) {
        uint32_t left = arg_count - index - 1;
        struct slice word = args[index];
        if (cmd_arg_is(word, "asc")) {
            options->desc = false;
        } else if (cmd_arg_is(word, "desc")) {
            options->desc = true;
        } else if (cmd_arg_is(word, "alpha")) {
            options->alpha = true;
        } else if (cmd_arg_is(word, "limit") && left >= 2) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length,
                                    &options->limit_start) ||
                !number_parse_int64(args[index + 2].bytes, args[index + 2].length,
                                    &options->limit_count)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            index += 2;
        } else if (!readonly && cmd_arg_is(word, "store") && left >= 1) {
            options->store = true;
            options->destination = args[index + 1];
            index++;
        } else if (cmd_arg_is(word, "by") && left >= 1) {
            options->by = args[index + 1];
            options->has_by = true;
            /* A pattern without '*' (as a C string: up to a NUL) names no weight keys; as in
             * Redis, a later BY with one does not undo that. */
            uint32_t text_bytes = text_length(options->by);
            bool pattern = text_bytes > 0 && memchr(options->by.bytes, '*', text_bytes) != NULL;
            if (pattern && cluster_enabled()) {
                reply_error(&context->reply, REPLY_ERROR_SORT_BY_CLUSTER);
                return false;
            }
            options->dontsort = options->dontsort || !pattern;
            index++;
        } else if (cmd_arg_is(word, "get") && left >= 1) {
            if (cluster_enabled()) {
                reply_error(&context->reply, REPLY_ERROR_SORT_GET_CLUSTER);
                return false;
            }
            options->get_count++;
            index++;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    KV_ASSERT(options->get_count <= arg_count / 2);
    return true;
}

/* The next GET pattern after argument *at (start with 1); false after the last. The options
 * were parsed already, so the words are known good. */
static bool sort_next_get(const struct slice *args, uint32_t arg_count, uint32_t *at,
                          struct slice *pattern)
{
    KV_ASSERT(*at >= 1);
    uint32_t index = *at == 1 ? 2 : *at;
    /* Bounded by the arguments: each step consumes at least one. */
    while (index < arg_count) {
        struct slice word = args[index];
        if (cmd_arg_is(word, "limit")) {
            index += 3;
        } else if (cmd_arg_is(word, "store") || cmd_arg_is(word, "by")) {
            index += 2;
        } else if (cmd_arg_is(word, "get")) {
            KV_ASSERT(index + 1 < arg_count);
            *pattern = args[index + 1];
            *at = index + 2;
            return true;
        } else {
            index++;
        }
    }
    *at = arg_count;
    return false;
}

/*
 * Redis's lookupKeyByPattern: "#" is the element itself; otherwise the first '*' of the
 * pattern (a C string) takes the element's bytes, and a "->field" after it (not at its end)
 * reads that field of a hash, else the key must hold a string. True with *value when found
 * (valid until the store changes; counted as a keyspace hit or miss, as lookupKeyRead).
 */
static bool sort_lookup(struct cmd_context *context, struct sort_work *work,
                        struct slice pattern, struct slice element, struct slice *value)
{
    KV_ASSERT(pattern.bytes != NULL || pattern.length == 0);
    uint32_t text_bytes = text_length(pattern);
    if (text_bytes == 1 && pattern.bytes[0] == '#') {
        *value = element;
        return true;
    }
    const uint8_t *star = memchr(pattern.bytes, '*', text_bytes);
    if (star == NULL) {
        return false;
    }
    uint32_t prefix_bytes = (uint32_t)(star - pattern.bytes);
    uint32_t field_bytes = 0;
    const uint8_t *field = NULL;
    /* Bounded by the pattern's text: the first "->" after the star with a byte after it. */
    for (uint32_t at = prefix_bytes + 1; at + 1 < text_bytes; at++) {
        if (pattern.bytes[at] == '-' && pattern.bytes[at + 1] == '>') {
            if (at + 2 < text_bytes) {
                field = pattern.bytes + at + 2;
                field_bytes = pattern.length - (at + 2);
            }
            break;
        }
    }
    uint32_t postfix_bytes =
        pattern.length - (prefix_bytes + 1) - (field != NULL ? field_bytes + 2 : 0);
    uint64_t key_bytes = (uint64_t)prefix_bytes + element.length + postfix_bytes;
    KV_ASSERT(key_bytes <= work->key_buffer_bytes);
    uint8_t *key = work->key_buffer;
    memcpy(key, pattern.bytes, prefix_bytes);
    if (element.length > 0) {
        memcpy(key + prefix_bytes, element.bytes, element.length);
    }
    memcpy(key + prefix_bytes + element.length, star + 1, postfix_bytes);
    struct slice name = {.bytes = key, .length = (uint32_t)key_bytes};
    struct store_found found;
    if (work->uncounted) {
        (void)store_find_typed(context->store, name, STORE_TYPE_ANY, &found);
    } else {
        (void)cmd_read_any(context, name, &found);
    }
    if (!found.exists) {
        return false;
    }
    if (field != NULL) {
        struct slice field_name = {.bytes = field, .length = field_bytes};
        return found.type == STORE_TYPE_HASH &&
               store_hash_get(context->store, found.key_ref, field_name, value);
    }
    if (found.type != STORE_TYPE_STRING) {
        return false;
    }
    *value = store_string_value(context->store, found.key_ref);
    return true;
}

/* A weight as Redis's strtod of it (a C string): false when it is not all a number, is NaN
 * or out of range. *no_room: a long weight found no heap for its copy. */
static bool sort_number(struct sort_work *work, struct slice text, double *score, bool *no_room)
{
    uint32_t length = text_length(text);
    char stack[SORT_NUMBER_STACK_BYTES];
    char *buffer = stack;
    if (length >= SORT_NUMBER_STACK_BYTES) {
        buffer = heap_alloc(work->heap, (uint64_t)length + 1u);
        if (buffer == NULL) {
            *no_room = true;
            *score = 0;
            return false;
        }
    }
    if (length > 0) {
        memcpy(buffer, text.bytes, length);
    }
    buffer[length] = '\0';
    char *end = NULL;
    errno = 0;
    *score = strtod(buffer, &end);
    bool good = *end == '\0' && errno != ERANGE && !isnan(*score);
    if (buffer != stack) {
        heap_release(work->heap, buffer);
    }
    KV_ASSERT(length < SORT_NUMBER_STACK_BYTES || buffer != stack);
    return good;
}

/* Redis's compareStringObjects: bytes, then length. */
static int compare_binary(struct slice a, struct slice b)
{
    uint32_t common = a.length < b.length ? a.length : b.length;
    int cmp = common > 0 ? memcmp(a.bytes, b.bytes, common) : 0;
    if (cmp != 0) {
        return cmp;
    }
    return a.length < b.length ? -1 : (a.length > b.length ? 1 : 0);
}

/* strcoll in the C locale (kv's and the tests' redis-server's): strcmp of the C strings. */
static int compare_text(struct slice a, struct slice b)
{
    a.length = text_length(a);
    b.length = text_length(b);
    return compare_binary(a, b);
}

/* Redis's sortCompare. */
static int sort_compare(const struct sort_options *options, const struct sort_entry *a,
                        const struct sort_entry *b)
{
    int cmp = 0;
    if (!options->alpha) {
        if (a->score > b->score) {
            cmp = 1;
        } else if (a->score < b->score) {
            cmp = -1;
        } else {
            cmp = compare_binary(a->element, b->element);
        }
    } else if (options->has_by) {
        if (!a->by_found || !b->by_found) {
            cmp = a->by_found == b->by_found ? 0 : (!a->by_found ? -1 : 1);
        } else {
            cmp = options->store ? compare_binary(a->by, b->by) : compare_text(a->by, b->by);
        }
    } else {
        cmp = options->store ? compare_binary(a->element, b->element)
                             : compare_text(a->element, b->element);
    }
    return options->desc ? -cmp : cmp;
}

/* Sorts order[0..count) by the entries: a bottom-up merge sort through the scratch after
 * it (count more indexes), stable. Bounded: log2(count) passes of count moves. */
static void sort_order(const struct sort_options *options, const struct sort_work *work,
                       uint32_t count)
{
    uint32_t *from = work->order;
    uint32_t *to = work->order + count;
    /* Bounded by log2(count) doublings of the run width. */
    for (uint64_t width = 1; width < count; width *= 2) {
        /* Bounded by count: each pair of runs is merged once. */
        for (uint64_t left = 0; left < count; left += 2 * width) {
            uint64_t middle = left + width < count ? left + width : count;
            uint64_t right = left + 2 * width < count ? left + 2 * width : count;
            uint64_t i = left;
            uint64_t j = middle;
            /* Bounded by the two runs' lengths. */
            for (uint64_t out = left; out < right; out++) {
                bool take_left = j >= right ||
                                 (i < middle && sort_compare(options, &work->entries[from[i]],
                                                             &work->entries[from[j]]) <= 0);
                to[out] = take_left ? from[i++] : from[j++];
            }
        }
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != work->order) {
        memcpy(work->order, from, (size_t)count * sizeof(uint32_t));
    }
    KV_ASSERT(count == 0 || work->order[0] < work->entry_count);
}

/* The source: its type and reference (none for an absent key, an empty list). */
struct sort_source {
    uint8_t type;
    uint32_t key_ref;
    uint32_t length;
};

/* Visits the elements to load: a list or sorted set without sorting from `start`, `count`
 * of them, in the direction asked (DESC walks from the far end); else every element in the
 * source's order. Calls `take` with each; bounded by `count`. */
typedef void sort_take_fn(void *context, struct slice element);

static void sort_walk(const struct store *store, const struct sort_source *source, bool ranged,
                      bool desc, uint32_t start, uint32_t count, sort_take_fn *take,
                      void *take_context)
{
    KV_ASSERT(start <= source->length && count <= source->length - start);
    if (count == 0) {
        return;
    }
    if (source->type == STORE_TYPE_LIST) {
        uint32_t first = ranged && desc ? source->length - start - 1u : start;
        bool backward = ranged && desc;
        struct store_list_cursor cursor;
        store_list_seek(store, source->key_ref, first, &cursor);
        /* Bounded by count. */
        for (uint32_t taken = 0; taken < count; taken++) {
            take(take_context, store_list_value(store, &cursor));
            bool more = backward ? store_list_prev(store, &cursor)
                                 : store_list_next(store, &cursor);
            KV_ASSERT(more || taken + 1 == count);
        }
    } else if (source->type == STORE_TYPE_ZSET) {
        bool backward = ranged && desc;
        uint32_t first = backward ? source->length - start - 1u : start;
        struct store_zset_walk walk;
        store_zset_walk_start(store, source->key_ref, first, backward, &walk);
        struct slice member;
        double score = 0;
        /* Bounded by count. */
        for (uint32_t taken = 0; taken < count; taken++) {
            bool more = store_zset_walk_next(&walk, &member, &score);
            KV_ASSERT(more);
            take(take_context, member);
        }
    } else {
        KV_ASSERT(source->type == STORE_TYPE_SET);
        struct store_set_cursor cursor;
        struct slice member;
        store_set_cursor_start(store, source->key_ref, &cursor);
        /* Bounded by the set's count. */
        for (uint32_t taken = 0; taken < count; taken++) {
            bool more = store_set_cursor_next(store, &cursor, &member);
            KV_ASSERT(more);
            take(take_context, member);
        }
    }
}

/* The loading passes: measure the elements' bytes, then copy them into entries. */
struct sort_load {
    struct sort_work *work;
    uint64_t bytes;          /* measure: bytes of every element */
    uint32_t longest;        /* measure: the longest element */
    uint32_t loaded;         /* copy: entries filled */
    uint64_t arena_used;     /* copy: arena bytes filled */
    bool copy;
};

static void sort_load_take(void *context, struct slice element)
{
    struct sort_load *load = context;
    if (!load->copy) {
        load->bytes += element.length;
        load->longest = element.length > load->longest ? element.length : load->longest;
        return;
    }
    struct sort_work *work = load->work;
    KV_ASSERT(load->loaded < work->entry_count);
    /* The arena is absent when every element is empty. */
    uint8_t *bytes = element.length > 0 ? work->arena + load->arena_used : NULL;
    if (element.length > 0) {
        memcpy(bytes, element.bytes, element.length);
    }
    load->arena_used += element.length;
    work->entries[load->loaded] = (struct sort_entry){
        .element = {.bytes = bytes, .length = element.length}};
    load->loaded++;
}

/* The longest pattern among BY and the GETs (the key buffer holds it and an element). */
static uint32_t sort_pattern_longest(const struct slice *args, uint32_t arg_count,
                                     const struct sort_options *options)
{
    uint32_t longest = options->has_by ? options->by.length : 0;
    uint32_t at = 1;
    struct slice pattern;
    /* Bounded by the GET options. */
    while (sort_next_get(args, arg_count, &at, &pattern)) {
        longest = pattern.length > longest ? pattern.length : longest;
    }
    return longest;
}

/* Computes every entry's weight (Redis's second loop); false when one cannot be converted
 * (*no_room: a heap too full to convert it). */
static bool sort_weigh(struct cmd_context *context, struct sort_work *work,
                       const struct sort_options *options, bool *no_room)
{
    bool converted = true;
    /* Bounded by the entries. */
    for (uint32_t index = 0; index < work->entry_count && !*no_room; index++) {
        struct sort_entry *entry = &work->entries[index];
        struct slice weight = entry->element;
        if (options->has_by) {
            if (!sort_lookup(context, work, options->by, entry->element, &weight)) {
                continue;
            }
        }
        if (options->alpha) {
            if (options->has_by) {
                entry->by = weight;
                entry->by_found = true;
            }
        } else if (!sort_number(work, weight, &entry->score, no_room)) {
            converted = false;
        }
    }
    KV_ASSERT(!options->alpha || converted);
    return converted;
}

/* Redis's LIMIT arithmetic over `length` elements: the output is [*start, *end]. */
static void sort_range(const struct sort_options *options, int64_t length, int64_t *start,
                       int64_t *end)
{
    int64_t first = options->limit_start < 0 ? 0 : options->limit_start;
    first = first > length ? length : first;
    int64_t count = options->limit_count < -1 ? -1 : options->limit_count;
    count = count > length ? length : count;
    int64_t last = count < 0 ? length - 1 : first + count - 1;
    if (first >= length) {
        first = length - 1;
        last = length - 2;
    }
    if (last >= length) {
        last = length - 1;
    }
    *start = first;
    *end = last;
    KV_ASSERT(*end >= *start - 1);
}

/* The value a GET gives for one output element in STORE's result: found bytes, or empty. */
static struct slice sort_get_value(struct cmd_context *context, struct sort_work *work,
                                   struct slice pattern, struct slice element)
{
    struct slice value = {.bytes = NULL, .length = 0};
    if (!sort_lookup(context, work, pattern, element, &value)) {
        value = (struct slice){.bytes = NULL, .length = 0};
    }
    return value;
}

/* STORE's checks of the destination before anything changes: kv's caps. */
static enum store_status sort_store_check(const struct store *store,
                                          const struct store_found *target,
                                          struct slice destination, uint64_t count,
                                          uint64_t longest)
{
    if (count == 0) {
        return STORE_OK;
    }
    if (!target->exists && destination.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (longest > store->limits.value_bytes_max) {
        return STORE_VALUE_TOO_LONG;
    }
    if (count > store->limits.length_max) {
        return STORE_LIST_FULL;
    }
    if (!target->exists && store_key_count_all(store) >= store->limits.key_count_max) {
        return STORE_FULL;
    }
    return STORE_OK;
}

/* Answers or stores the output [start, end] of the sorted order. */
static void sort_output(struct cmd_context *context, struct sort_work *work,
                        const struct slice *args, uint32_t arg_count,
                        const struct sort_options *options, int64_t start, int64_t end)
{
    KV_ASSERT(end >= start - 1 && end < (int64_t)work->entry_count);
    uint64_t rows = (uint64_t)(end - start + 1);
    uint64_t output_count = options->get_count > 0 ? rows * options->get_count : rows;
    if (!options->store) {
        reply_array(&context->reply, output_count);
        /* Bounded by the rows and the GET options. */
        for (int64_t row = start; row <= end; row++) {
            struct slice element = work->entries[work->order[row]].element;
            if (options->get_count == 0) {
                reply_bulk(&context->reply, element);
            }
            uint32_t at = 1;
            struct slice pattern;
            while (sort_next_get(args, arg_count, &at, &pattern)) {
                struct slice value;
                if (sort_lookup(context, work, pattern, element, &value)) {
                    reply_bulk(&context->reply, value);
                } else {
                    reply_null(&context->reply);
                }
            }
        }
        return;
    }
    /* STORE: measure the result, copy it apart, then replace the destination. */
    uint64_t bytes = 0;
    uint64_t longest = 0;
    /* Two passes bounded by the rows and the GET options: measure, then copy. */
    for (uint32_t pass = 0; pass < 2; pass++) {
        work->uncounted = pass == 0;
        uint64_t placed = 0;
        uint64_t used = 0;
        for (int64_t row = start; row <= end; row++) {
            struct slice element = work->entries[work->order[row]].element;
            uint32_t at = 1;
            struct slice pattern;
            bool more = options->get_count > 0 && sort_next_get(args, arg_count, &at, &pattern);
            /* Bounded by the GET options (one value without any). */
            do {
                struct slice value = options->get_count > 0
                                         ? sort_get_value(context, work, pattern, element)
                                         : element;
                if (pass == 0) {
                    bytes += value.length;
                    longest = value.length > longest ? value.length : longest;
                } else {
                    uint8_t *copy = value.length > 0 ? work->value_arena + used : NULL;
                    if (value.length > 0) {
                        memcpy(copy, value.bytes, value.length);
                    }
                    used += value.length;
                    work->values[placed] = (struct slice){.bytes = copy, .length = value.length};
                }
                placed++;
                more = options->get_count > 0 && sort_next_get(args, arg_count, &at, &pattern);
            } while (more);
        }
        KV_ASSERT(placed == output_count);
        if (pass == 0) {
            struct store_found target;
            (void)store_find_typed(context->store, options->destination, STORE_TYPE_ANY,
                                   &target);
            enum store_status status = sort_store_check(context->store, &target,
                                                        options->destination, output_count,
                                                        longest);
            uint64_t need = store_list_bound_bytes(output_count, longest) +
                            store_key_object_bound_bytes(options->destination.length);
            if (status == STORE_OK && output_count > 0 &&
                (!sort_take(work, output_count * sizeof(struct slice), (void **)&work->values) ||
                 !sort_take(work, bytes, (void **)&work->value_arena) ||
                 heap_free_bytes(context->store->heap) < need)) {
                status = STORE_OOM;
            }
            if (status != STORE_OK) {
                reply_error(&context->reply, cmd_store_error(status));
                return;
            }
            if (output_count == 0) {
                if (target.exists) {
                    store_remove(context->store, &target);
                    notify_event(NOTIFY_GENERIC, "del", options->destination);
                }
                reply_integer(&context->reply, 0);
                return;
            }
        }
    }
    struct store_found target;
    (void)store_find_typed(context->store, options->destination, STORE_TYPE_ANY, &target);
    bool replaced = target.exists;
    if (replaced) {
        store_remove(context->store, &target);
        (void)store_find_typed(context->store, options->destination, STORE_TYPE_ANY, &target);
    }
    KV_ASSERT(!target.exists);
    KV_ASSERT(output_count <= UINT32_MAX);
    uint32_t length_after = 0;
    /* Redis's setKey replaces a destination without a "new" event; the push after the
     * removal would announce one. */
    if (replaced) {
        notify_new_mute(true);
    }
    enum store_status status = store_list_push(context->store, &target, options->destination,
                                               work->values, (uint32_t)output_count, false,
                                               &length_after);
    if (replaced) {
        notify_new_mute(false);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    notify_event(NOTIFY_LIST, "sortstore", options->destination);
    reply_integer(&context->reply, (int64_t)output_count);
}

/* Reads the source key as lookupKeyRead (a list, set or sorted set); false after answering
 * WRONGTYPE. */
static bool sort_source_read(struct cmd_context *context, struct slice key,
                             struct sort_source *source)
{
    struct store_found found;
    *source = (struct sort_source){.type = STORE_TYPE_LIST, .key_ref = HEAP_REF_NONE};
    if (!cmd_read_any(context, key, &found)) {
        return true;
    }
    if (found.type != STORE_TYPE_LIST && found.type != STORE_TYPE_SET &&
        found.type != STORE_TYPE_ZSET) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    uint64_t length = store_length(context->store, found.key_ref);
    KV_ASSERT(length >= 1 && length <= UINT32_MAX);
    *source = (struct sort_source){.type = found.type, .key_ref = found.key_ref,
                                   .length = (uint32_t)length};
    return true;
}

static void sort_generic(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, bool readonly)
{
    KV_ASSERT(arg_count >= 2);
    struct sort_options options;
    if (!sort_parse(context, args, arg_count, readonly, &options)) {
        return;
    }
    struct sort_source source;
    if (!sort_source_read(context, args[1], &source)) {
        return;
    }
    /* A set is unordered: stored, or read by a script, without sorting, Redis sorts it ALPHA
     * (so that replicas and the AOF see one order). */
    bool scripted = context->script != NULL && context->script->run != NULL;
    if (options.dontsort && source.type == STORE_TYPE_SET && (options.store || scripted)) {
        options.dontsort = false;
        options.alpha = true;
        options.has_by = false;
    }
    int64_t start = 0;
    int64_t end = 0;
    sort_range(&options, source.length, &start, &end);
    /* A list or sorted set not sorted loads only the range asked. */
    bool ranged = (source.type == STORE_TYPE_LIST || source.type == STORE_TYPE_ZSET) &&
                  options.dontsort;
    uint32_t load_start = 0;
    uint32_t load_count = source.length;
    if (ranged) {
        load_start = end >= start ? (uint32_t)start : 0;
        load_count = end >= start ? (uint32_t)(end - start + 1) : 0;
        end -= start;
        start = 0;
    }
    struct sort_work work = {.heap = context->store->heap};
    struct sort_load load = {.work = &work};
    sort_walk(context->store, &source, ranged, options.desc, load_start, load_count,
              sort_load_take, &load);
    work.entry_count = load_count;
    uint64_t key_buffer_bytes =
        (uint64_t)sort_pattern_longest(args, arg_count, &options) + load.longest;
    bool room = sort_take(&work, (uint64_t)load_count * sizeof(struct sort_entry),
                          (void **)&work.entries) &&
                sort_take(&work, load.bytes, (void **)&work.arena) &&
                sort_take(&work, (uint64_t)load_count * 2u * sizeof(uint32_t),
                          (void **)&work.order) &&
                sort_take(&work, key_buffer_bytes, (void **)&work.key_buffer);
    if (!room) {
        sort_work_release(&work);
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    work.key_buffer_bytes = key_buffer_bytes;
    load.copy = true;
    sort_walk(context->store, &source, ranged, options.desc, load_start, load_count,
              sort_load_take, &load);
    KV_ASSERT(load.loaded == load_count && load.arena_used == load.bytes);
    /* Bounded by the entries. */
    for (uint32_t index = 0; index < load_count; index++) {
        work.order[index] = index;
    }
    bool converted = true;
    bool no_room = false;
    if (!options.dontsort) {
        converted = sort_weigh(context, &work, &options, &no_room);
        if (converted && !no_room) {
            sort_order(&options, &work, load_count);
        }
    }
    if (no_room) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
    } else if (!converted) {
        reply_error(&context->reply, REPLY_ERROR_SORT_SCORE);
    } else {
        sort_output(context, &work, args, arg_count, &options, start, end);
    }
    sort_work_release(&work);
}

CMD_HANDLER(cmd_sort)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    sort_generic(context, args, arg_count, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_sort_ro)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    sort_generic(context, args, arg_count, true);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd sort_cmds[] = {
    {"sort", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_sort},
    {"sort_ro", -2, 1, 1, 1, 0, cmd_sort_ro},
};

CMD_FAMILY(cmd_family_sort, "generic", sort_cmds);
