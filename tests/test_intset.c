/*
 * Proves the intset, with intset_verify() after every step. Widths: intset_width_for() on
 * both sides of every width's ends, and a set upgrading 1 -> 2 -> 4 -> 8 bytes with values
 * below and above (the new value going first or last), up to INT64_MIN and INT64_MAX, then
 * narrowing back 8 -> 4 -> 2 -> 1 as the values that needed each width leave. The exact bytes
 * of a small set. A seeded churn of adds and removes against a model (a plain sorted array)
 * over small, medium, large and extreme values: after every step the members, their order,
 * the width (the smallest holding the ends), intset_bytes() and the allocation (exactly
 * heap_rounded_bytes() of it) match. intset_random() draws every member of a set and only
 * members. intset_member_parse() accepts exactly the canonical decimal text of an int64,
 * by a table of Redis's cases and against an oracle (strtoll plus printing the value back)
 * on random text. OOM: on a tiny heap kept full, an add that fails (widening or not) leaves
 * the set byte-identical at the same address, removes never fail. Forked children show
 * intset_verify() catching disorder, a repeat and a width wider than needed. The bytes of a
 * set of 20 values below 100 are printed and bounded. KV_SEED replays a run.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_abort.h"
#include "fixture.h"
#include "intset.h"

#define MIB (1024ull * 1024ull)

/* The model holds at most this many values. */
#define MODEL_COUNT_MAX 600u

#define TINY_HEAP_BYTES (16u * HEAP_PAGE_BYTES)
#define FILLER_COUNT_MAX (TINY_HEAP_BYTES / 8u)

static uint64_t seed;

/* A heap in a region of its own, sized by heap_plan_bytes(). */
struct fixture {
    struct region region;
    struct heap heap;
};

static void fixture_open(struct fixture *fixture, uint64_t heap_bytes)
{
    char error[256];
    uint64_t plan_bytes = heap_plan_bytes(heap_bytes);
    if (region_map(&fixture->region, plan_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_intset: %s\n", error);
        exit(1);
    }
    heap_init(&fixture->heap, &fixture->region, heap_bytes);
    heap_verify(&fixture->heap);
}

static void fixture_close(struct fixture *fixture)
{
    region_unmap(&fixture->region);
}

/* The width the model's values need: that of the wider end, 1 when empty. */
static uint32_t width_needed(const int64_t *values, uint32_t count)
{
    if (count == 0) {
        return 1;
    }
    uint32_t first = intset_width_for(values[0]);
    uint32_t last = intset_width_for(values[count - 1]);
    return first > last ? first : last;
}

/* The set holds exactly values[0..count), ascending, in the width needed, and its allocation
 * is exactly the size class of its bytes. */
static bool set_matches(const struct intset *set, const struct heap *heap, const int64_t *values,
                        uint32_t count)
{
    bool same = intset_count(set) == count && intset_width(set) == width_needed(values, count) &&
                intset_bytes(set) == INTSET_HEADER_BYTES + (uint64_t)count * intset_width(set) &&
                heap_usable_bytes(heap, set) == heap_rounded_bytes(intset_bytes(set));
    for (uint32_t index = 0; same && index < count; index++) {
        same = intset_get(set, index) == values[index] && intset_contains(set, values[index]);
    }
    return same;
}

/* ---- Widths --------------------------------------------------------------------------- */

static void test_width_for(void)
{
    static const struct {
        int64_t value;
        uint32_t width;
    } cases[] = {
        {0, 1},           {127, 1},        {128, 2},          {-128, 1},        {-129, 2},
        {32767, 2},       {32768, 4},      {-32768, 2},       {-32769, 4},      {INT32_MAX, 4},
        {(int64_t)INT32_MAX + 1, 8},       {INT32_MIN, 4},    {(int64_t)INT32_MIN - 1, 8},
        {INT64_MAX, 8},   {INT64_MIN, 8},  {-1, 1},
    };
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        CHECK(intset_width_for(cases[index].value) == cases[index].width);
    }
}

static void add_checked(struct intset **set, struct heap *heap, int64_t value, bool expect_added)
{
    bool added = !expect_added;
    CHECK(intset_add(set, heap, value, &added));
    CHECK(added == expect_added);
    intset_verify(*set, heap);
}

/* 1 -> 2 -> 4 -> 8 bytes, a new value going first or last each time, then back down. */
static void test_upgrades(struct heap *heap)
{
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    CHECK(intset_width(set) == 1 && intset_count(set) == 0 && intset_bytes(set) == 4);
    add_checked(&set, heap, 5, true);
    add_checked(&set, heap, -3, true);
    add_checked(&set, heap, 5, false);
    static const int64_t steps[] = {300, -70000, INT64_MAX, INT64_MIN};
    static const uint32_t widths[] = {2, 4, 8, 8};
    static const int64_t after[][6] = {
        {-3, 5, 300},
        {-70000, -3, 5, 300},
        {-70000, -3, 5, 300, INT64_MAX},
        {INT64_MIN, -70000, -3, 5, 300, INT64_MAX},
    };
    for (uint32_t index = 0; index < 4; index++) {
        add_checked(&set, heap, steps[index], true);
        CHECK(intset_width(set) == widths[index]);
        CHECK(set_matches(set, heap, after[index], index + 3));
    }
    add_checked(&set, heap, INT64_MIN, false);
    CHECK(intset_contains(set, INT64_MAX) && !intset_contains(set, INT64_MAX - 1));
    /* Down again: the width follows the widest end. */
    static const int64_t removals[] = {INT64_MIN, INT64_MAX, -70000, 300};
    static const uint32_t narrowed[] = {8, 4, 2, 1};
    static const int64_t left[][5] = {
        {-70000, -3, 5, 300, INT64_MAX},
        {-70000, -3, 5, 300},
        {-3, 5, 300},
        {-3, 5},
    };
    for (uint32_t index = 0; index < 4; index++) {
        CHECK(intset_remove(&set, heap, removals[index]));
        CHECK(!intset_remove(&set, heap, removals[index]));
        intset_verify(set, heap);
        CHECK(intset_width(set) == narrowed[index]);
        CHECK(set_matches(set, heap, left[index], 5 - index));
    }
    /* Widening an empty set, and from the middle width straight to 8. */
    CHECK(intset_remove(&set, heap, -3) && intset_remove(&set, heap, 5));
    CHECK(intset_count(set) == 0 && intset_width(set) == 1);
    add_checked(&set, heap, 40000, true);
    CHECK(intset_width(set) == 4);
    add_checked(&set, heap, INT64_MIN + 1, true);
    static const int64_t last[] = {INT64_MIN + 1, 40000};
    CHECK(set_matches(set, heap, last, 2));
    intset_release(heap, set);
}

/* {-1, 2, 300}: count 3, width code 1 (2 bytes), then ff ff 02 00 2c 01 (little endian). */
static void test_layout(struct heap *heap)
{
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    add_checked(&set, heap, 300, true);
    add_checked(&set, heap, -1, true);
    add_checked(&set, heap, 2, true);
    static const uint8_t expected[] = {0x0d, 0x00, 0x00, 0x00, 0xff, 0xff, 0x02, 0x00, 0x2c, 0x01};
    CHECK(intset_bytes(set) == sizeof(expected));
    CHECK_BYTES((const uint8_t *)set, sizeof(expected), expected, sizeof(expected));
    intset_release(heap, set);
}

/* ---- The churn ------------------------------------------------------------------------ */

static int64_t model[MODEL_COUNT_MAX];
static uint32_t model_count;

/* Values from every width, the extremes and the ends of each width. */
static int64_t random_value_any(void)
{
    static const int64_t edges[] = {INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX, INT16_MIN,
                                    INT16_MAX, INT8_MIN,  INT8_MAX,  0,         -1,
                                    (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1, 128, -129};
    uint32_t draw = prng_below(100);
    if (draw < 50) {
        return (int64_t)prng_below(300) - 150;
    }
    if (draw < 75) {
        return (int64_t)prng_below(140000) - 70000;
    }
    if (draw < 90) {
        return (int64_t)prng_next() >> prng_below(64);
    }
    return edges[prng_below(sizeof(edges) / sizeof(edges[0]))];
}

/* The churn's phases cap the width of the values it adds (1, 2, 4, 8, 4, 2 bytes, round
 * and round), so sets grow wide and narrow again. */
static uint32_t width_cap = 8;

/* A random value folded into width_cap bytes. */
static int64_t random_value(void)
{
    int64_t value = random_value_any();
    if (intset_width_for(value) <= width_cap) {
        return value;
    }
    uint32_t bits = 8 * width_cap;
    int64_t low = -(int64_t)(1ull << (bits - 1));
    return low + (int64_t)((uint64_t)value % (1ull << bits));
}

/* Where `value` is or would go in the model (a linear scan: the model is the plain truth). */
static uint32_t model_position(int64_t value, bool *found)
{
    uint32_t position = 0;
    while (position < model_count && model[position] < value) {
        position++;
    }
    *found = position < model_count && model[position] == value;
    return position;
}

static void model_add(int64_t value)
{
    bool found = false;
    uint32_t position = model_position(value, &found);
    KV_ASSERT(!found && model_count < MODEL_COUNT_MAX);
    memmove(&model[position + 1], &model[position], (model_count - position) * sizeof(int64_t));
    model[position] = value;
    model_count++;
}

static void model_remove(int64_t value)
{
    bool found = false;
    uint32_t position = model_position(value, &found);
    KV_ASSERT(found);
    memmove(&model[position], &model[position + 1], (model_count - position - 1) * sizeof(int64_t));
    model_count--;
}

/* One step: an add (more often while the set is small) or a remove of a member or not. */
static void churn_step(struct intset **set, struct heap *heap, uint32_t count_target)
{
    bool grow = model_count < count_target ? prng_below(10) < 6 : prng_below(10) < 4;
    int64_t value = random_value();
    if (!grow && model_count > 0 && prng_below(4) != 0) {
        value = model[prng_below(model_count)];
    }
    bool present = false;
    model_position(value, &present);
    bool adding = grow && model_count < MODEL_COUNT_MAX;
    if (adding) {
        bool added = false;
        CHECK(intset_add(set, heap, value, &added));
        CHECK(added == !present);
        if (added) {
            model_add(value);
        }
    } else {
        CHECK(intset_remove(set, heap, value) == present);
        if (present) {
            model_remove(value);
        }
    }
    CHECK(intset_contains(*set, value) == adding);
}

static void test_churn(struct heap *heap, uint32_t steps, uint32_t count_target)
{
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    model_count = 0;
    uint64_t failures_before = (uint64_t)check_failures;
    uint32_t widths_seen = 0;
    static const uint32_t caps[] = {1, 2, 4, 8, 4, 2};
    uint32_t phase_steps = count_target * 25;
    for (uint32_t step = 0; step < steps && (uint64_t)check_failures == failures_before; step++) {
        width_cap = caps[step / phase_steps % (sizeof(caps) / sizeof(caps[0]))];
        churn_step(&set, heap, count_target);
        intset_verify(set, heap);
        CHECK(set_matches(set, heap, model, model_count));
        int64_t probe = random_value();
        bool present = false;
        model_position(probe, &present);
        CHECK(intset_contains(set, probe) == present);
        widths_seen |= intset_width(set);
        if ((uint64_t)check_failures != failures_before) {
            fprintf(stderr, "intset churn failed at step %u (KV_SEED=%llu)\n", step,
                    (unsigned long long)seed);
        }
    }
    CHECK(widths_seen == (1 | 2 | 4 | 8));
    width_cap = 8;
    printf("test_intset: churn of %u steps around %u values, ending with %u\n", steps,
           count_target, model_count);
    intset_release(heap, set);
}

/* ---- Random members ------------------------------------------------------------------- */

static void test_random(struct heap *heap)
{
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    for (int64_t value = 0; value < 20; value++) {
        add_checked(&set, heap, value * value * 1000 - 50000, true);
    }
    uint32_t drawn[20] = {0};
    uint64_t state = seed | 1;
    for (uint32_t round = 0; round < 20000; round++) {
        uint64_t before = state;
        int64_t member = intset_random(set, &state);
        CHECK(state != before && state != 0);
        int64_t root = 0;
        while (root < 20 && root * root * 1000 - 50000 != member) {
            root++;
        }
        CHECK(root < 20);
        if (root < 20) {
            drawn[root]++;
        }
    }
    /* 1000 expected each: a fair draw stays well inside [500, 1500]. */
    for (uint32_t index = 0; index < 20; index++) {
        CHECK(drawn[index] > 500 && drawn[index] < 1500);
    }
    intset_release(heap, set);
}

/* ---- Member text ---------------------------------------------------------------------- */

static bool parse_text(const char *text, int64_t *value)
{
    return intset_member_parse((const uint8_t *)text, (uint32_t)strlen(text), value);
}

static void test_parse_table(void)
{
    static const struct {
        const char *text;
        bool valid;
        int64_t value;
    } cases[] = {
        {"0", true, 0},
        {"1", true, 1},
        {"-1", true, -1},
        {"100", true, 100},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"18446744073709551615", false, 0},
        {"18446744073709551616", false, 0},
        {"99999999999999999999", false, 0},
        {"123456789012345678901", false, 0},
        {"-0", false, 0},
        {"00", false, 0},
        {"01", false, 0},
        {"-01", false, 0},
        {"+1", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
        {"", false, 0},
        {"-", false, 0},
        {"--1", false, 0},
        {"1a", false, 0},
        {"0x10", false, 0},
        {"1e3", false, 0},
        {"1.0", false, 0},
    };
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        int64_t value = 12345;
        bool valid = parse_text(cases[index].text, &value);
        CHECK(valid == cases[index].valid);
        if (valid != cases[index].valid) {
            fprintf(stderr, "  text \"%s\"\n", cases[index].text);
        }
        CHECK(!cases[index].valid || value == cases[index].value);
    }
    /* A NUL inside is not a digit: "1\0" is two bytes and no integer. */
    int64_t value = 0;
    CHECK(!intset_member_parse((const uint8_t *)"1\0", 2, &value));
}

/* The oracle: strtoll reads all of it without overflow, and printing the value gives the
 * same text back (which rules out '+', spaces, leading zeros and "-0"). */
static bool oracle_parse(const char *text, int64_t *value)
{
    if (text[0] == '\0') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    char printed[32];
    snprintf(printed, sizeof(printed), "%lld", parsed);
    *value = parsed;
    return strcmp(printed, text) == 0;
}

static void test_parse_oracle(void)
{
    static const char alphabet[] = "-0123456789 +a";
    uint32_t valid_count = 0;
    for (uint32_t round = 0; round < 300000; round++) {
        char text[24];
        uint32_t length = prng_below(22);
        for (uint32_t index = 0; index < length; index++) {
            /* Mostly digits, so long valid numbers and overflows both turn up. */
            text[index] = prng_below(8) == 0 ? alphabet[prng_below(sizeof(alphabet) - 1)]
                                             : (char)('0' + prng_below(10));
        }
        text[length] = '\0';
        int64_t expected = 0;
        int64_t value = 0;
        bool oracle = oracle_parse(text, &expected);
        bool valid = parse_text(text, &value);
        CHECK(valid == oracle);
        CHECK(!valid || value == expected);
        valid_count += valid ? 1 : 0;
    }
    /* And every int64 printed parses back to itself. */
    for (uint32_t round = 0; round < 100000; round++) {
        int64_t number = (int64_t)prng_next() >> prng_below(64);
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)number);
        int64_t value = 0;
        CHECK(parse_text(text, &value) && value == number);
    }
    CHECK(valid_count > 10000);
}

/* ---- OOM ------------------------------------------------------------------------------ */

static void *fillers[FILLER_COUNT_MAX];
static uint32_t filler_count;

static void fill_heap(struct heap *heap)
{
    /* Bounded by the fillers the tiny heap can hold. */
    while (filler_count < FILLER_COUNT_MAX) {
        void *filler = heap_alloc(heap, 8);
        if (filler == NULL) {
            break;
        }
        fillers[filler_count++] = filler;
    }
    CHECK(filler_count < FILLER_COUNT_MAX);
}

/* Adds and removes on a full tiny heap with now and then a few pages let go: a failed add
 * leaves the set as it was; a remove always works. */
static void test_oom(uint32_t steps)
{
    struct fixture fixture;
    fixture_open(&fixture, TINY_HEAP_BYTES);
    struct heap *heap = &fixture.heap;
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    model_count = 0;
    filler_count = 0;
    fill_heap(heap);
    CHECK(intset_create(heap) == NULL);
    static uint8_t snapshot[TINY_HEAP_BYTES];
    uint64_t adds = 0;
    uint64_t refused = 0;
    uint64_t widenings_refused = 0;
    static const uint32_t caps[] = {1, 2, 4, 8, 4, 2};
    for (uint32_t step = 0; step < steps; step++) {
        if (prng_below(32) == 0) {
            /* The newest fillers share spans: releasing them frees whole pages. */
            for (uint32_t round = prng_below(2000); round > 0 && filler_count > 0; round--) {
                heap_release(heap, fillers[--filler_count]);
            }
        } else if (prng_below(16) == 0) {
            fill_heap(heap);
        }
        /* Width phases as in the churn, so widening adds meet a full heap too. */
        width_cap = caps[step / 1000 % (sizeof(caps) / sizeof(caps[0]))];
        /* Adds lead below 200 values, removes (mostly of members) above: the set wanders
         * around there. */
        bool adding = prng_below(10) < (model_count < 200 ? 6u : 4u);
        int64_t value = random_value();
        if (!adding && model_count > 0 && prng_below(4) != 0) {
            value = model[prng_below(model_count)];
        }
        bool present = false;
        model_position(value, &present);
        if (adding && model_count < MODEL_COUNT_MAX) {
            struct intset *before = set;
            uint64_t bytes = intset_bytes(set);
            memcpy(snapshot, set, bytes);
            bool added = false;
            adds++;
            if (intset_add(&set, heap, value, &added)) {
                CHECK(added == !present);
                if (added) {
                    model_add(value);
                }
            } else {
                refused++;
                widenings_refused += intset_width_for(value) > intset_width(set) ? 1 : 0;
                CHECK(!present);
                CHECK(set == before && intset_bytes(set) == bytes);
                CHECK(memcmp(snapshot, set, bytes) == 0);
            }
        } else {
            CHECK(intset_remove(&set, heap, value) == present);
            if (present) {
                model_remove(value);
            }
        }
        intset_verify(set, heap);
        for (uint32_t index = 0; index < model_count; index++) {
            CHECK(intset_get(set, index) == model[index]);
        }
        CHECK(intset_count(set) == model_count);
    }
    width_cap = 8;
    heap_verify(heap);
    printf("test_intset: OOM: %llu adds, %llu refused (%llu widening)\n",
           (unsigned long long)adds, (unsigned long long)refused,
           (unsigned long long)widenings_refused);
    CHECK(refused > adds / 100 && refused < adds);
    CHECK(widenings_refused > 0);
    fixture_close(&fixture);
}

/* ---- Memory --------------------------------------------------------------------------- */

static void report_memory(struct heap *heap)
{
    struct intset *set = intset_create(heap);
    CHECK(set != NULL);
    for (int64_t value = 0; value < 20; value++) {
        add_checked(&set, heap, value * 5, true);
    }
    uint64_t usable = heap_usable_bytes(heap, set);
    printf("test_intset: 20 values below 100: %llu bytes, %llu allocated, %.1f per value\n",
           (unsigned long long)intset_bytes(set), (unsigned long long)usable,
           (double)usable / 20.0);
    CHECK(intset_bytes(set) == 24);
    CHECK(usable == 24);
    intset_release(heap, set);
}

/* ---- verify catches corruption -------------------------------------------------------- */

struct corrupt_case {
    struct heap *heap;
    uint32_t header;    /* the header to write */
    uint8_t values[8];  /* the values' bytes to write */
};

static void corrupt_and_verify(void *context)
{
    const struct corrupt_case *corrupt = context;
    struct intset *set = heap_alloc(corrupt->heap, INTSET_HEADER_BYTES + 8);
    KV_ASSERT(set != NULL);
    set->header = corrupt->header;
    memcpy(set->values, corrupt->values, sizeof(corrupt->values));
    intset_verify(set, corrupt->heap);
}

static void test_verify_catches(struct heap *heap)
{
    struct corrupt_case cases[] = {
        {heap, 3u << 2 | 0, {1, 3, 2}},       /* out of order */
        {heap, 3u << 2 | 0, {1, 2, 2}},       /* a repeat */
        {heap, 2u << 2 | 1, {1, 0, 2, 0}},    /* two bytes where one would do */
        {heap, 0u << 2 | 2, {0}},             /* empty but not 1 byte wide */
    };
    const char *expressions[] = {"value_at(set, width, index - 1) < value_at(set, width, index)",
                                 "value_at(set, width, index - 1) < value_at(set, width, index)",
                                 "width == (first_width > last_width", "width == 1"};
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        CHECK(check_dies_asserting(corrupt_and_verify, &cases[index], expressions[index]));
    }
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                             : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    printf("test_intset: KV_SEED=%llu\n", (unsigned long long)seed);
    test_width_for();
    test_parse_table();
    test_parse_oracle();
    struct fixture fixture;
    fixture_open(&fixture, 16 * MIB);
    struct heap *heap = &fixture.heap;
    test_upgrades(heap);
    test_layout(heap);
    test_random(heap);
    report_memory(heap);
    test_verify_catches(heap);
    test_churn(heap, 60000, 40);
    test_churn(heap, 100000, 500);
    heap_verify(heap);
    CHECK(heap->used_bytes == 0);
    fixture_close(&fixture);
    test_oom(20000);
    if (check_failures != 0) {
        fprintf(stderr, "test_intset: KV_SEED=%llu\n", (unsigned long long)seed);
    }
    return check_exit("test_intset");
}
