/*
 * Proves lists on the heap (store_list.h). Both encodings and the conversions between them:
 * a small list (one pack) becomes big (a chain of pack nodes) when a push, LINSERT or LSET
 * would take its pack past 8 KiB, and small again once it is down to one node of at most
 * 4 KiB, with no flip-flop at the boundary; an element over 8 KiB lives alone in its node.
 * Every write against a model: a seeded churn of pushes (several values at once), pops,
 * LSET, LINSERT, LREM, LTRIM and LMOVE (across keys and within one, each end to each end)
 * over lists that cross the thresholds both ways, read back forward, backward and by index,
 * with store_verify's tally equal to heap.allocations (the heap is the store's alone here).
 * A list of 1M elements answers LINDEX and LSET at random positions correctly, and the time
 * of LINDEX in the middle, LSET, LRANGE of 100, pushes and pops is printed. On a heap filled
 * to the last byte, every write that needs memory answers STORE_OOM and changes nothing
 * (every list read back, the heap's counts unchanged), multi-value pushes included, while
 * pops, LREM and LTRIM still work. The seed's caps give kv's errors, all checks before any
 * change. KV_SEED replays the churn.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_list.h"
#include "store_string.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;
static uint32_t ready_calls;

static double now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e6 + (double)now.tv_nsec / 1e3;
}

static void on_ready(void *context, uint32_t hash, struct slice key)
{
    (void)context;
    (void)hash;
    (void)key;
    ready_calls++;
}

/* A fresh region, heap and store of `heap_bytes`, with the config's caps. */
static void setup(uint64_t heap_bytes, const struct config *caps)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    store_config = *caps; /* the store keeps the pointer: it must outlive the caller's */
    store_init(&store, &heap, &store_config, 12345);
    store_string_init(&store);
    store_list_init(&store);
    store.ready = on_ready;
    store_clock(&store, 1000000);
}

static void setup_default(uint64_t heap_bytes)
{
    struct config config;
    fixture_caps_none(&config);
    setup(heap_bytes, &config);
}

/* The store's tally must equal what the heap handed out, less what the test holds itself. */
static uint64_t filler_allocations;

static void verify(void)
{
    CHECK(store_verify(&store) + filler_allocations == heap.allocations);
    heap_verify(&heap);
}

/* ---- The model: elements are (id, length); an element's bytes follow from both ---------- */

struct element {
    uint32_t id;     /* 0 .. 255, and 0 for an empty element (so equal bytes <=> equal pair) */
    uint32_t length;
};

static void element_bytes(struct element element, uint8_t *into)
{
    for (uint32_t index = 0; index < element.length; index++) {
        into[index] = (uint8_t)(element.id * 131u + index * 7u);
    }
}

static bool element_is(struct element element, struct slice got)
{
    static uint8_t want[16384];
    if (got.length != element.length) {
        return false;
    }
    element_bytes(element, want);
    return element.length == 0 || memcmp(want, got.bytes, element.length) == 0;
}

static bool element_equal(struct element a, struct element b)
{
    return a.id == b.id && a.length == b.length;
}

#define MODEL_KEYS 6u
#define MODEL_LENGTH_MAX 6000u

struct model_list {
    struct element elements[MODEL_LENGTH_MAX];
    uint32_t count;
};

static struct model_list model[MODEL_KEYS];

static void model_insert(struct model_list *list, uint32_t at, struct element element)
{
    KV_ASSERT(list->count < MODEL_LENGTH_MAX && at <= list->count);
    memmove(&list->elements[at + 1], &list->elements[at],
            (list->count - at) * sizeof(struct element));
    list->elements[at] = element;
    list->count++;
}

static void model_erase(struct model_list *list, uint32_t at)
{
    KV_ASSERT(at < list->count);
    memmove(&list->elements[at], &list->elements[at + 1],
            (list->count - at - 1) * sizeof(struct element));
    list->count--;
}

static void key_name(uint32_t index, char *name, size_t bytes)
{
    snprintf(name, bytes, "list:%u", index);
}

/* Reads list `index` back every way and compares it with the model. */
static void model_check_one(uint32_t index)
{
    char name[32];
    key_name(index, name, sizeof(name));
    const struct model_list *list = &model[index];
    struct store_found found;
    enum store_status status = store_find_typed(&store, text(name), STORE_TYPE_LIST, &found);
    CHECK((status == STORE_OK) == (list->count > 0));
    if (status != STORE_OK || list->count == 0) {
        return;
    }
    CHECK(store_list_length(&store, found.key_ref) == list->count);
    struct store_list_cursor cursor;
    store_list_seek(&store, found.key_ref, 0, &cursor);
    uint32_t same = 0;
    for (uint32_t at = 0; at < list->count; at++) {
        same += element_is(list->elements[at], store_list_value(&store, &cursor)) ? 1 : 0;
        CHECK(store_list_next(&store, &cursor) == (at + 1 < list->count));
    }
    store_list_seek(&store, found.key_ref, list->count - 1, &cursor);
    for (uint32_t at = list->count; at-- > 0;) {
        same += element_is(list->elements[at], store_list_value(&store, &cursor)) ? 1 : 0;
        CHECK(store_list_prev(&store, &cursor) == (at > 0));
    }
    for (uint32_t probe = 0; probe < 20; probe++) {
        uint32_t at = random_below(list->count);
        store_list_seek(&store, found.key_ref, at, &cursor);
        same += element_is(list->elements[at], store_list_value(&store, &cursor)) ? 1 : 0;
    }
    CHECK(same == 2 * list->count + 20);
}

static void model_check(void)
{
    for (uint32_t index = 0; index < MODEL_KEYS; index++) {
        model_check_one(index);
    }
}

/* ---- Churn ------------------------------------------------------------------------------ */

/* A random element: mostly short, some medium, a few over 8 KiB (alone in a node). */
static struct element element_random(void)
{
    uint32_t roll = random_below(1000);
    uint32_t length = roll < 700   ? random_below(13)
                      : roll < 900 ? 13 + random_below(300)
                      : roll < 995 ? 313 + random_below(2700)
                                   : 8000 + random_below(5000);
    return (struct element){.id = length == 0 ? 0 : random_below(8), .length = length};
}

static uint8_t value_buffers[5][16384];

static struct slice element_slice(struct element element, uint32_t buffer)
{
    element_bytes(element, value_buffers[buffer]);
    return (struct slice){.bytes = value_buffers[buffer], .length = element.length};
}

static void churn_push(uint32_t index, struct store_found *found, const char *name)
{
    struct model_list *list = &model[index];
    uint32_t count = 1 + random_below(5);
    if (list->count + count > MODEL_LENGTH_MAX) {
        return;
    }
    bool at_head = random_below(2) == 0;
    struct element elements[5];
    struct slice values[5];
    for (uint32_t at = 0; at < count; at++) {
        elements[at] = element_random();
        values[at] = element_slice(elements[at], at);
    }
    uint32_t ready_before = ready_calls;
    uint32_t length = 0;
    CHECK(store_list_push(&store, found, text(name), values, count, at_head, &length) ==
          STORE_OK);
    for (uint32_t at = 0; at < count; at++) {
        model_insert(list, at_head ? 0 : list->count, elements[at]);
    }
    CHECK(length == list->count);
    CHECK(ready_calls == ready_before + 1);
}

static void churn_lset_linsert(uint32_t index, struct store_found *found, bool insert)
{
    struct model_list *list = &model[index];
    struct element element = element_random();
    if (!insert) {
        uint32_t at = random_below(list->count);
        CHECK(store_list_set(&store, found, at, element_slice(element, 0)) == STORE_OK);
        list->elements[at] = element;
        return;
    }
    if (list->count >= MODEL_LENGTH_MAX) {
        return;
    }
    struct element pivot = list->elements[random_below(list->count)];
    uint32_t at = 0;
    while (!element_equal(list->elements[at], pivot)) {
        at++;
    }
    struct store_list_cursor cursor;
    CHECK(store_list_find(&store, found->key_ref, element_slice(pivot, 1), &cursor));
    bool before = random_below(2) == 0;
    CHECK(store_list_insert(&store, found, &cursor, before, element_slice(element, 0)) ==
          STORE_OK);
    model_insert(list, before ? at : at + 1, element);
}

static void churn_lrem(uint32_t index, struct store_found *found)
{
    struct model_list *list = &model[index];
    struct element target = list->elements[random_below(list->count)];
    int64_t count = (int64_t)random_below(7) - 3;
    uint32_t limit = count == 0 ? UINT32_MAX : (uint32_t)(count < 0 ? -count : count);
    uint32_t removed = 0;
    if (count >= 0) {
        for (uint32_t at = 0; at < list->count && removed < limit;) {
            if (element_equal(list->elements[at], target)) {
                model_erase(list, at);
                removed++;
            } else {
                at++;
            }
        }
    } else {
        for (uint32_t at = list->count; at-- > 0 && removed < limit;) {
            if (element_equal(list->elements[at], target)) {
                model_erase(list, at);
                removed++;
            }
        }
    }
    CHECK(store_list_remove_value(&store, found, count, element_slice(target, 0)) == removed);
}

static void churn_trim_pop(uint32_t index, struct store_found *found, bool trim)
{
    struct model_list *list = &model[index];
    if (!trim) {
        bool at_head = random_below(2) == 0;
        CHECK(element_is(list->elements[at_head ? 0 : list->count - 1],
                         store_list_end(&store, found->key_ref, at_head)));
        store_list_pop(&store, found, at_head);
        model_erase(list, at_head ? 0 : list->count - 1);
        return;
    }
    /* Mostly a quarter or less off each end; sometimes anything, the whole list too. */
    uint32_t start = random_below(list->count / 4 + 1);
    uint32_t kept = list->count - start - random_below((list->count - start) / 4 + 1);
    kept = random_below(8) == 0 ? random_below(list->count - start + 1) : kept;
    store_list_trim(&store, found, start, kept);
    memmove(&list->elements[0], &list->elements[start], kept * sizeof(struct element));
    list->count = kept;
}

static void churn_move(uint32_t index, struct store_found *found)
{
    uint32_t to = random_below(MODEL_KEYS);
    struct model_list *source = &model[index];
    struct model_list *target = &model[to];
    if (to != index && target->count >= MODEL_LENGTH_MAX) {
        return;
    }
    char name[32];
    key_name(to, name, sizeof(name));
    bool from_head = random_below(2) == 0;
    bool to_head = random_below(2) == 0;
    struct element element = source->elements[from_head ? 0 : source->count - 1];
    struct slice moved;
    CHECK(store_list_move(&store, found, text(name), from_head, to_head, &moved) == STORE_OK);
    CHECK(element_is(element, moved));
    model_erase(source, from_head ? 0 : source->count - 1);
    model_insert(target, to_head ? 0 : target->count, element);
}

/* One random write to list `index`. */
static void churn_step(uint32_t index, uint32_t grow_bias)
{
    char name[32];
    key_name(index, name, sizeof(name));
    struct store_found found;
    (void)store_find_typed(&store, text(name), STORE_TYPE_LIST, &found);
    uint32_t roll = random_below(100);
    if (!found.exists || roll < grow_bias) {
        churn_push(index, &found, name);
    } else if (roll < grow_bias + 20) {
        churn_trim_pop(index, &found, false);
    } else if (roll < grow_bias + 27) {
        churn_lset_linsert(index, &found, false);
    } else if (roll < grow_bias + 34) {
        churn_lset_linsert(index, &found, true);
    } else if (roll < grow_bias + 38) {
        churn_lrem(index, &found);
    } else if (roll < grow_bias + 40) {
        churn_trim_pop(index, &found, true);
    } else if (roll < grow_bias + 50) {
        churn_move(index, &found);
    } else {
        CHECK(store_delete(&store, text(name)) == (model[index].count > 0));
        model[index].count = 0;
    }
}

static void test_churn(uint64_t seed)
{
    setup_default(256u << 20);
    seed_state = seed;
    memset(model, 0, sizeof(model));
    uint32_t big_seen = 0;
    uint32_t small_seen = 0;
    for (uint32_t step = 0; step < 30000; step++) {
        /* Phases: grow past the thresholds, then shrink back under them. */
        uint32_t grow_bias = (step / 3000) % 2 == 0 ? 48 : 35;
        churn_step(random_below(MODEL_KEYS), grow_bias);
        if (step % 7 == 0) {
            verify();
        }
        if (step % 1000 == 0) {
            model_check();
        }
        for (uint32_t index = 0; index < MODEL_KEYS; index++) {
            char name[32];
            key_name(index, name, sizeof(name));
            uint32_t key_ref = 0;
            if (store_peek(&store, text(name), &key_ref)) {
                big_seen += store_list_node_count(&store, key_ref) > 0 ? 1 : 0;
                small_seen += store_list_node_count(&store, key_ref) == 0 ? 1 : 0;
            }
        }
    }
    verify();
    model_check();
    CHECK(big_seen > 1000 && small_seen > 1000);
    printf("test_store_list: churn saw lists big %u times and small %u times\n", big_seen,
           small_seen);
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- Conversions ----------------------------------------------------------------------- */

static uint32_t node_count_of(const char *name)
{
    uint32_t key_ref = 0;
    CHECK(store_peek(&store, text(name), &key_ref));
    return store_list_node_count(&store, key_ref);
}

static uint32_t push_one(const char *name, struct slice value, bool at_head)
{
    struct store_found found;
    (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &found);
    uint32_t length = 0;
    CHECK(store_list_push(&store, &found, text(name), &value, 1, at_head, &length) == STORE_OK);
    return length;
}

static struct store_found find_list(const char *name)
{
    struct store_found found;
    CHECK(store_find_typed(&store, text(name), STORE_TYPE_LIST, &found) == STORE_OK);
    return found;
}

/* A list of 20-byte elements crosses 8 KiB one way and 4 KiB the other, not back and forth. */
static void test_thresholds(void)
{
    setup_default(16u << 20);
    char bytes[20];
    memset(bytes, 'a', sizeof(bytes));
    struct slice value = {.bytes = (const uint8_t *)bytes, .length = sizeof(bytes)};
    uint32_t entry = (uint32_t)pack_entry_bytes(sizeof(bytes), true);
    uint32_t small_max = (STORE_LIST_PACK_BYTES_MAX - PACK_HEADER_BYTES) / entry;
    uint32_t length = 0;
    for (uint32_t step = 0; step < 1000 && (length == 0 || node_count_of("t") == 0); step++) {
        length = push_one("t", value, false);
        verify();
    }
    CHECK(length == small_max + 1);
    CHECK(node_count_of("t") == 2); /* the full pack, and a node for the one that did not fit */
    /* A pop and a push at the boundary change no encoding. */
    for (uint32_t round = 0; round < 3; round++) {
        struct store_found found = find_list("t");
        store_list_pop(&store, &found, false);
        CHECK(node_count_of("t") == 1);
        CHECK(push_one("t", value, false) == small_max + 1);
        CHECK(node_count_of("t") == 2);
    }
    /* Pops from the head: small again at 4 KiB. */
    for (uint32_t step = 0; step < 1000 && node_count_of("t") > 0; step++) {
        struct store_found found = find_list("t");
        store_list_pop(&store, &found, true);
        length--;
        verify();
    }
    CHECK(length == (STORE_LIST_PACK_BYTES_LOW - PACK_HEADER_BYTES) / entry);
    /* An element over 8 KiB: a big list of one node holding it alone. */
    static uint8_t large[20000];
    memset(large, 'L', sizeof(large));
    push_one("large", (struct slice){.bytes = large, .length = sizeof(large)}, true);
    CHECK(node_count_of("large") == 1);
    CHECK(push_one("large", value, true) == 2 && node_count_of("large") == 2);
    verify();
    struct store_found found = find_list("large");
    store_list_pop(&store, &found, true);
    CHECK(node_count_of("large") == 1); /* 20000 bytes stay big */
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* LINSERT and LSET that take a small pack past 8 KiB make it big; LREM thinning a big list
 * merges its nodes and makes it small again. */
static void test_edits_convert(void)
{
    setup_default(16u << 20);
    char bytes[100];
    for (uint32_t index = 0; index < 80; index++) {
        snprintf(bytes, sizeof(bytes), "%-99u", index % 4 == 0 ? index : 1u);
        push_one("e", (struct slice){.bytes = (const uint8_t *)bytes, .length = 99}, false);
    }
    CHECK(node_count_of("e") == 0); /* 80 x 101 bytes: small */
    struct store_found found = find_list("e");
    struct store_list_cursor cursor;
    snprintf(bytes, sizeof(bytes), "%-99u", 40u);
    CHECK(store_list_find(&store, found.key_ref, (struct slice){(const uint8_t *)bytes, 99},
                          &cursor));
    static uint8_t mid[200];
    memset(mid, 'm', sizeof(mid));
    CHECK(store_list_insert(&store, &found, &cursor, false, (struct slice){mid, 200}) ==
          STORE_OK);
    CHECK(node_count_of("e") == 2);
    CHECK(store_list_length(&store, found.key_ref) == 81);
    store_list_seek(&store, found.key_ref, 41, &cursor);
    CHECK(slice_equal(store_list_value(&store, &cursor), (struct slice){mid, 200}));
    verify();
    /* LREM of the 60 "1"s from the tail: the nodes merge, then it is small again. */
    snprintf(bytes, sizeof(bytes), "%-99u", 1u);
    CHECK(store_list_remove_value(&store, &found, -1000,
                                  (struct slice){(const uint8_t *)bytes, 99}) == 60);
    CHECK(node_count_of("e") == 0);
    CHECK(store_list_length(&store, found.key_ref) == 21);
    verify();
    /* LSET of a 20000-byte value in a small list: big, the value alone in its node. */
    static uint8_t large[20000];
    memset(large, 'L', sizeof(large));
    CHECK(store_list_set(&store, &found, 10, (struct slice){large, sizeof(large)}) == STORE_OK);
    CHECK(node_count_of("e") == 3);
    store_list_seek(&store, found.key_ref, 10, &cursor);
    CHECK(store_list_value(&store, &cursor).length == sizeof(large));
    store_list_seek(&store, found.key_ref, 11, &cursor);
    CHECK(slice_equal(store_list_value(&store, &cursor), (struct slice){mid, 200}));
    CHECK(store_list_set(&store, &found, 10, (struct slice){large, 30000 / 2}) == STORE_OK);
    CHECK(node_count_of("e") == 3); /* a lone element may shrink or grow in its node */
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* Reads list `name` as a string of one-byte elements. */
static void list_text(const char *name, char *out, uint32_t out_bytes)
{
    struct store_found found = find_list(name);
    uint32_t length = store_list_length(&store, found.key_ref);
    KV_ASSERT(length < out_bytes);
    struct store_list_cursor cursor;
    store_list_seek(&store, found.key_ref, 0, &cursor);
    for (uint32_t at = 0; at < length; at++) {
        struct slice value = store_list_value(&store, &cursor);
        out[at] = value.length > 0 ? (char)value.bytes[0] : '?';
        (void)store_list_next(&store, &cursor);
    }
    out[length] = '\0';
}

/* LMOVE within one list, each end to each end, small, one node and many nodes. */
static void test_rotate(void)
{
    setup_default(16u << 20);
    const char *letters = "abcde";
    for (uint32_t index = 0; index < 5; index++) {
        push_one("r", (struct slice){(const uint8_t *)letters + index, 1}, false);
    }
    char got[16];
    struct slice moved;
    struct store_found found = find_list("r");
    CHECK(store_list_move(&store, &found, text("r"), false, true, &moved) == STORE_OK);
    list_text("r", got, sizeof(got));
    CHECK_STR(got, "eabcd");
    CHECK(moved.length == 1 && moved.bytes[0] == 'e');
    found = find_list("r");
    CHECK(store_list_move(&store, &found, text("r"), true, false, &moved) == STORE_OK);
    CHECK(store_list_move(&store, &found, text("r"), true, false, &moved) == STORE_OK);
    list_text("r", got, sizeof(got));
    CHECK_STR(got, "bcdea");
    CHECK(store_list_move(&store, &found, text("r"), true, true, &moved) == STORE_OK);
    list_text("r", got, sizeof(got));
    CHECK_STR(got, "bcdea");
    verify();
    /* Many nodes: 3000-byte elements, two to a node. */
    static uint8_t wide[5][3000];
    for (uint32_t index = 0; index < 5; index++) {
        memset(wide[index], letters[index], sizeof(wide[index]));
        push_one("w", (struct slice){wide[index], sizeof(wide[index])}, false);
    }
    CHECK(node_count_of("w") == 3);
    found = find_list("w");
    CHECK(store_list_move(&store, &found, text("w"), false, true, &moved) == STORE_OK);
    CHECK(store_list_move(&store, &found, text("w"), false, true, &moved) == STORE_OK);
    CHECK(store_list_move(&store, &found, text("w"), true, false, &moved) == STORE_OK);
    list_text("w", got, sizeof(got));
    CHECK_STR(got, "eabcd");
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- 1M elements ------------------------------------------------------------------------- */

#define MILLION 1000000u
#define SET_COUNT 2000u

/* Element `index` as built: "e%07u"; or, once LSET changed it, its set value. */
static uint16_t million_set[MILLION]; /* 0: as built; else 1 + which set value */

static uint32_t million_expected(uint32_t index, char *out)
{
    if (million_set[index] == 0) {
        return (uint32_t)snprintf(out, 32, "e%07u", index);
    }
    uint32_t which = million_set[index] - 1u;
    /* Longer than the original on odd sets: some nodes overflow and split. */
    return (uint32_t)snprintf(out, 32, which % 2 ? "set-%u-padding-padding" : "s%07u", which);
}

static bool million_at(uint32_t key_ref, uint32_t index)
{
    char want[32];
    uint32_t length = million_expected(index, want);
    struct store_list_cursor cursor;
    store_list_seek(&store, key_ref, index, &cursor);
    return slice_equal(store_list_value(&store, &cursor),
                       (struct slice){.bytes = (const uint8_t *)want, .length = length});
}

static void million_build(void)
{
    static char storage[1000][16];
    struct slice values[1000];
    double started = now_us();
    for (uint32_t batch = 0; batch < MILLION / 1000; batch++) {
        for (uint32_t at = 0; at < 1000; at++) {
            values[at].length = (uint32_t)snprintf(storage[at], sizeof(storage[at]), "e%07u",
                                                   batch * 1000 + at);
            values[at].bytes = (const uint8_t *)storage[at];
        }
        struct store_found found;
        (void)store_find_typed(&store, text("million"), STORE_TYPE_ANY, &found);
        uint32_t length = 0;
        CHECK(store_list_push(&store, &found, text("million"), values, 1000, false, &length) ==
              STORE_OK);
    }
    double elapsed = now_us() - started;
    printf("test_store_list: RPUSH of 1M elements (1000 per call): %.0f ms, %.3f us each\n",
           elapsed / 1e3, elapsed / MILLION);
}

static void test_million(void)
{
    setup_default(256u << 20);
    memset(million_set, 0, sizeof(million_set));
    million_build();
    struct store_found found = find_list("million");
    CHECK(store_list_length(&store, found.key_ref) == MILLION);
    uint32_t nodes = store_list_node_count(&store, found.key_ref);
    double started = now_us();
    verify();
    printf("test_store_list: 1M elements in %u nodes, %.1f bytes each on the heap; verify %.0f "
           "ms\n", nodes, (double)store_memory(&store, found.key_ref) / MILLION,
           (now_us() - started) / 1e3);
    /* LINDEX at random positions, and in the middle (the longest walk). */
    uint32_t right = 0;
    started = now_us();
    for (uint32_t probe = 0; probe < 10000; probe++) {
        right += million_at(found.key_ref, random_below(MILLION)) ? 1 : 0;
    }
    double random_us = (now_us() - started) / 10000;
    CHECK(right == 10000);
    started = now_us();
    for (uint32_t probe = 0; probe < 1000; probe++) {
        right += million_at(found.key_ref, MILLION / 2 - 1 + probe % 2) ? 1 : 0;
    }
    double middle_us = (now_us() - started) / 1000;
    CHECK(right == 11000);
    printf("test_store_list: LINDEX at 1M: %.2f us at random, %.2f us in the middle\n",
           random_us, middle_us);
    /* LSET at distinct random positions, then every one of them and a sample read back. */
    uint32_t base = random_below(MILLION);
    started = now_us();
    for (uint32_t which = 0; which < SET_COUNT; which++) {
        uint32_t index = (base + which * 999983u) % MILLION;
        million_set[index] = (uint16_t)(which + 1);
        char value[32];
        uint32_t length = million_expected(index, value);
        CHECK(store_list_set(&store, &found, index,
                             (struct slice){(const uint8_t *)value, length}) == STORE_OK);
    }
    printf("test_store_list: LSET at 1M: %.2f us each\n", (now_us() - started) / SET_COUNT);
    right = 0;
    for (uint32_t which = 0; which < SET_COUNT; which++) {
        right += million_at(found.key_ref, (base + which * 999983u) % MILLION) ? 1 : 0;
    }
    for (uint32_t index = 0; index < MILLION; index += 997) {
        right += million_at(found.key_ref, index) ? 0 : 1000000;
    }
    CHECK(right == SET_COUNT);
    CHECK(store_list_length(&store, found.key_ref) == MILLION);
    verify();
}

/* The 1M list's ranges, pops and inserts, timed. */
static void test_million_ops(void)
{
    struct store_found found = find_list("million");
    struct store_list_cursor cursor;
    double started = now_us();
    uint32_t right = 0;
    for (uint32_t round = 0; round < 1000; round++) {
        uint32_t start = MILLION / 2 - 50 + round % 7;
        store_list_seek(&store, found.key_ref, start, &cursor);
        for (uint32_t at = start; at < start + 100; at++) {
            char want[32];
            uint32_t length = million_expected(at, want);
            right += slice_equal(store_list_value(&store, &cursor),
                                 (struct slice){(const uint8_t *)want, length}) ? 1 : 0;
            (void)store_list_next(&store, &cursor);
        }
    }
    CHECK(right == 100000);
    printf("test_store_list: LRANGE of 100 in the middle at 1M: %.2f us\n",
           (now_us() - started) / 1000);
    /* LINSERT before the middle element (a walk of half the list to find it). */
    char pivot[32];
    uint32_t pivot_length = million_expected(MILLION / 2, pivot);
    started = now_us();
    CHECK(store_list_find(&store, found.key_ref,
                          (struct slice){(const uint8_t *)pivot, pivot_length}, &cursor));
    CHECK(store_list_insert(&store, &found, &cursor, true, text("inserted")) == STORE_OK);
    printf("test_store_list: LINSERT in the middle at 1M: %.0f us\n", now_us() - started);
    store_list_seek(&store, found.key_ref, MILLION / 2, &cursor);
    CHECK(slice_equal(store_list_value(&store, &cursor), text("inserted")));
    CHECK(million_at(found.key_ref, MILLION / 2 - 1));
    started = now_us();
    for (uint32_t pop = 0; pop < 100000; pop++) {
        store_list_pop(&store, &found, pop % 2 == 0);
    }
    printf("test_store_list: LPOP/RPOP at 1M: %.3f us each\n", (now_us() - started) / 100000);
    CHECK(store_list_length(&store, found.key_ref) == MILLION + 1 - 100000);
    CHECK(million_at(found.key_ref, 0) == false); /* shifted: element 50000 is first now */
    store_list_seek(&store, found.key_ref, 0, &cursor);
    char first[32];
    uint32_t first_length = million_expected(50000, first);
    CHECK(slice_equal(store_list_value(&store, &cursor),
                      (struct slice){(const uint8_t *)first, first_length}));
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- OOM ------------------------------------------------------------------------------- */

static void *fillers[1u << 20];

/* Takes every byte the heap has left, every size down to the smallest. */
static void heap_fill(void)
{
    for (uint64_t bytes = 1u << 20; bytes >= HEAP_ALIGN; bytes -= bytes > 65536 ? bytes / 2 : 8) {
        void *taken = NULL;
        while (filler_allocations < sizeof(fillers) / sizeof(fillers[0]) &&
               (taken = heap_alloc(&heap, bytes)) != NULL) {
            fillers[filler_allocations++] = taken;
        }
    }
    CHECK(heap_alloc(&heap, HEAP_ALIGN) == NULL);
}

static void heap_unfill(void)
{
    while (filler_allocations > 0) {
        heap_release(&heap, fillers[--filler_allocations]);
    }
}

/* Builds model lists 0..3: small, a small one near 8 KiB, big (full nodes), one huge. */
static void oom_lists(void)
{
    memset(model, 0, sizeof(model));
    char name[32];
    uint32_t counts[4] = {5, 370, 2000, 1};
    for (uint32_t index = 0; index < 4; index++) {
        key_name(index, name, sizeof(name));
        for (uint32_t at = 0; at < counts[index]; at++) {
            struct element element = {.id = at % 7, .length = index == 3 ? 10000 : 20};
            push_one(name, element_slice(element, 0), false);
            model_insert(&model[index], model[index].count, element);
        }
    }
    CHECK(node_count_of("list:0") == 0 && node_count_of("list:1") == 0);
    CHECK(node_count_of("list:2") > 2 && node_count_of("list:3") == 1);
}

/* Every write that needs memory, on a full heap: STORE_OOM, nothing changed. */
static void oom_refusals(void)
{
    uint64_t allocations = heap.allocations;
    uint64_t used = heap.used_bytes;
    struct element large = {.id = 1, .length = 9000};
    struct element small = {.id = 2, .length = 20};
    struct slice values[3] = {element_slice(small, 0), element_slice(small, 1),
                              element_slice(large, 2)};
    uint32_t length = 0;
    for (uint32_t index = 0; index < 4; index++) {
        char name[32];
        key_name(index, name, sizeof(name));
        struct store_found found = find_list(name);
        /* The small values fit the end pack's room; the last one needs a node: none go. */
        CHECK(store_list_push(&store, &found, text(name), values, 3, index % 2 == 0, &length) ==
              STORE_OOM);
        /* Larger than any element here, the lone 10000-byte one too: it must grow. */
        struct element larger = {.id = 3, .length = 12000};
        CHECK(store_list_set(&store, &found, 0, element_slice(larger, 0)) == STORE_OOM);
        struct store_list_cursor cursor;
        store_list_seek(&store, found.key_ref, model[index].count / 2, &cursor);
        CHECK(store_list_insert(&store, &found, &cursor, index % 2 == 0,
                                element_slice(large, 2)) == STORE_OOM);
        struct slice moved;
        CHECK(store_list_move(&store, &found, text("new"), true, false, &moved) == STORE_OOM);
    }
    struct store_found found;
    CHECK(store_find_typed(&store, text("new"), STORE_TYPE_LIST, &found) == STORE_NOT_FOUND);
    CHECK(store_list_push(&store, &found, text("new"), values, 1, true, &length) == STORE_OOM);
    /* Within one big list: the head node is full, so the tail element needs a new node. */
    found = find_list("list:2");
    struct slice moved;
    CHECK(store_list_move(&store, &found, text("list:2"), false, true, &moved) == STORE_OOM);
    CHECK(heap.allocations == allocations && heap.used_bytes == used);
    model_check();
    verify();
}

static void test_oom(void)
{
    setup_default(4u << 20);
    oom_lists();
    heap_fill();
    printf("test_store_list: the 4 MiB heap is full after %llu more allocations\n",
           (unsigned long long)filler_allocations);
    oom_refusals();
    /* Deletes still work on the full heap. */
    struct store_found found = find_list("list:2");
    store_list_pop(&store, &found, true);
    model_erase(&model[2], 0);
    CHECK(store_list_remove_value(&store, &found, 0, element_slice(model[2].elements[0], 0)) > 0);
    struct element gone = model[2].elements[0];
    for (uint32_t at = 0; at < model[2].count;) {
        element_equal(model[2].elements[at], gone) ? model_erase(&model[2], at) : (void)at++;
    }
    found = find_list("list:1");
    store_list_trim(&store, &found, 10, 100);
    memmove(&model[1].elements[0], &model[1].elements[10], 100 * sizeof(struct element));
    model[1].count = 100;
    model_check();
    verify();
    /* With the memory back, what was refused fits. */
    heap_unfill();
    struct slice value = element_slice((struct element){.id = 1, .length = 9000}, 0);
    CHECK(push_one("list:0", value, true) == model[0].count + 1);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- Caps ------------------------------------------------------------------------------ */

static enum store_status push_values(const char *name, const char *const *words,
                                     uint32_t word_count)
{
    struct slice values[8];
    KV_ASSERT(word_count <= 8);
    for (uint32_t index = 0; index < word_count; index++) {
        values[index] = text(words[index]);
    }
    struct store_found found;
    (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &found);
    uint32_t length = 0;
    return store_list_push(&store, &found, text(name), values, word_count, false, &length);
}

static void test_caps(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = 3;
    config.key_size_max = 8;
    config.val_size_max = 16;
    config.list_length_max = 5;
    setup(4u << 20, &config);
    const char *words[] = {"1", "2", "3", "4", "5", "6"};
    const char *long_value[] = {"12345678901234567"};
    CHECK(push_values("123456789", words, 1) == STORE_KEY_TOO_LONG);
    CHECK(push_values("a", long_value, 1) == STORE_VALUE_TOO_LONG);
    CHECK(push_values("a", words, 6) == STORE_LIST_FULL);
    CHECK(push_values("a", words, 4) == STORE_OK);
    CHECK(push_values("a", words, 2) == STORE_LIST_FULL); /* all or nothing */
    CHECK(store_list_length(&store, find_list("a").key_ref) == 4);
    CHECK(push_values("a", words, 1) == STORE_OK);
    CHECK(push_values("a", words, 1) == STORE_LIST_FULL);
    CHECK(push_values("b", words, 1) == STORE_OK);
    CHECK(store_string_set(&store, text("s"), text("v")) == STORE_OK);
    CHECK(push_values("s", words, 1) == STORE_WRONGTYPE);
    CHECK(push_values("c", words, 1) == STORE_FULL);
    struct store_found found = find_list("b");
    struct slice moved;
    CHECK(store_list_move(&store, &found, text("a"), true, true, &moved) == STORE_LIST_FULL);
    CHECK(store_list_move(&store, &found, text("s"), true, true, &moved) == STORE_WRONGTYPE);
    CHECK(store_list_move(&store, &found, text("123456789"), true, true, &moved) ==
          STORE_KEY_TOO_LONG);
    found = find_list("a");
    CHECK(store_list_move(&store, &found, text("c"), true, true, &moved) == STORE_FULL);
    CHECK(store_list_move(&store, &found, text("a"), true, false, &moved) == STORE_OK);
    /* A source that goes with its last element frees its key for the new one. */
    found = find_list("b");
    CHECK(store_list_move(&store, &found, text("c"), true, true, &moved) == STORE_OK);
    CHECK(!found.exists && store_key_count(&store) == 3);
    CHECK(slice_equal(moved, text("1")));
    char got[16];
    list_text("a", got, sizeof(got));
    CHECK_STR(got, "23411");
    verify();
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store_list: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    test_thresholds();
    test_edits_convert();
    test_rotate();
    test_caps();
    test_oom();
    test_churn(seed);
    test_million();
    test_million_ops();
    return check_exit("test_store_list");
}
