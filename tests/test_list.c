/*
 * Proves lists keep their order and their links through pushes and pops at both ends,
 * positional lookup, insertion before and after (at the ends and in the middle) and removal
 * from the middle, with list_verify() after every step and the contents compared with an array
 * model. Proves list_node_at() walks from the nearer end (it still answers right when the links
 * it should not follow are broken). Proves the pool boundary: a list of exactly node_count
 * nodes, and two lists sharing the pool until it is empty; one more push or insert asserts.
 * Assertions run in forked children that must die with SIGABRT on the expected expression:
 * popping an empty list, a position past the end, and list_verify() on broken links. A long
 * random run (seeded PRNG, KV_SEED replays it, seed printed on failure) mixes every operation.
 * The node pool lives in a real region sized with list_nodes_plan_bytes().
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "list.h"

#define NODES 64u

static struct pool nodes;

/* The model: the values of one list, head first. */
static uint32_t model[NODES];
static uint32_t model_count;

static uint64_t prng_state;

/* splitmix64: one seed gives the whole run. */
static uint64_t prng_next(void)
{
    prng_state += 0x9e3779b97f4a7c15ull;
    uint64_t value = prng_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

static uint32_t prng_below(uint32_t bound)
{
    return (uint32_t)(prng_next() % bound);
}

/* Runs action(context) in a forked child. True when the child dies of SIGABRT after printing
 * an assertion failure that names `expression`; the child's stderr comes back on a pipe. */
static bool dies_asserting(void (*action)(void *), void *context, const char *expression)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        action(context);
        _exit(0);
    }
    close(fds[1]);
    char message[1024];
    size_t length = 0;
    ssize_t got = 0;
    while (length < sizeof(message) - 1 &&
           (got = read(fds[0], message + length, sizeof(message) - 1 - length)) > 0) {
        length += (size_t)got;
    }
    message[length] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    bool aborted = child > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    bool named = strstr(message, expression) != NULL;
    if (!aborted || !named) {
        fprintf(stderr, "expected an abort on '%s'; the child said: %s\n", expression, message);
    }
    return aborted && named;
}

/* The list against the model: links, count, every position, ends, and the pool's count. */
static void check_same(const struct list *list)
{
    list_verify(&nodes, list);
    CHECK(list->count == model_count);
    for (uint32_t index = 0; index < model_count; index++) {
        uint32_t node = list_node_at(&nodes, list, index);
        CHECK(list_node(&nodes, node)->value_index == model[index]);
    }
    if (model_count > 0) {
        CHECK(list_node(&nodes, list->head)->value_index == model[0]);
        CHECK(list_node(&nodes, list->tail)->value_index == model[model_count - 1]);
    }
    CHECK(pool_used_count(&nodes) == model_count);
}

static void model_insert(uint32_t at, uint32_t value)
{
    CHECK(model_count < NODES && at <= model_count);
    if (model_count >= NODES || at > model_count) {
        return; /* reported above; the memmove would run past the model */
    }
    memmove(model + at + 1, model + at, (model_count - at) * sizeof(uint32_t));
    model[at] = value;
    model_count++;
}

static uint32_t model_remove(uint32_t at)
{
    uint32_t value = model[at];
    memmove(model + at, model + at + 1, (model_count - at - 1) * sizeof(uint32_t));
    model_count--;
    return value;
}

static void test_ends(struct list *list)
{
    check_same(list);
    CHECK(list->head == LIST_NONE);
    CHECK(list->tail == LIST_NONE);
    list_push_head(&nodes, list, 1);
    model_insert(0, 1);
    check_same(list);
    CHECK(list->head == list->tail); /* one node is both ends */
    CHECK(list_pop_tail(&nodes, list) == model_remove(0));
    check_same(list);
    /* 3 2 1 | 4 5 6, then pops from both ends. */
    for (uint32_t value = 1; value <= 3; value++) {
        list_push_head(&nodes, list, value);
        model_insert(0, value);
        check_same(list);
        list_push_tail(&nodes, list, value + 3);
        model_insert(model_count, value + 3);
        check_same(list);
    }
    CHECK(list_pop_head(&nodes, list) == 3);
    model_remove(0);
    check_same(list);
    CHECK(list_pop_tail(&nodes, list) == 6);
    model_remove(model_count - 1);
    check_same(list);
}

/* Inserts at both ends and in the middle, removes the head, tail and middle. */
static void test_insert_remove(struct list *list)
{
    CHECK(model_count == 4); /* 2 1 4 5 from test_ends */
    list_insert(&nodes, list, list->head, true, 10); /* before the head: a new head */
    model_insert(0, 10);
    check_same(list);
    list_insert(&nodes, list, list->tail, false, 11); /* after the tail: a new tail */
    model_insert(model_count, 11);
    check_same(list);
    list_insert(&nodes, list, list->head, false, 12); /* after the head */
    model_insert(1, 12);
    check_same(list);
    list_insert(&nodes, list, list->tail, true, 13); /* before the tail */
    model_insert(model_count - 1, 13);
    check_same(list);
    list_insert(&nodes, list, list_node_at(&nodes, list, 4), true, 14); /* middle */
    model_insert(4, 14);
    check_same(list);
    list_insert(&nodes, list, list_node_at(&nodes, list, 4), false, 15);
    model_insert(5, 15);
    check_same(list);
    CHECK(list_remove(&nodes, list, list_node_at(&nodes, list, 5)) == model_remove(5));
    check_same(list);
    CHECK(list_remove(&nodes, list, list->head) == model_remove(0));
    check_same(list);
    CHECK(list_remove(&nodes, list, list->tail) == model_remove(model_count - 1));
    check_same(list);
    while (model_count > 0) {
        uint32_t at = model_count / 2;
        CHECK(list_remove(&nodes, list, list_node_at(&nodes, list, at)) == model_remove(at));
        check_same(list);
    }
}

/*
 * list_node_at walks from the nearer end: with the next links of the back half and the prev
 * links of the front half broken, every position is still found. Odd and even counts.
 */
static void test_nearer_end(struct list *list)
{
    for (uint32_t count = 1; count <= 12; count++) {
        uint32_t saved_next[12];
        uint32_t saved_prev[12];
        uint32_t node_indexes[12];
        for (uint32_t value = 0; value < count; value++) {
            list_push_tail(&nodes, list, value);
        }
        for (uint32_t index = 0; index < count; index++) {
            node_indexes[index] = list_node_at(&nodes, list, index);
        }
        for (uint32_t index = 0; index < count; index++) {
            struct list_node *node = list_node(&nodes, node_indexes[index]);
            saved_next[index] = node->next;
            saved_prev[index] = node->prev;
            if (index >= count / 2) {
                node->next = NODES; /* out of range: following it asserts */
            } else {
                node->prev = NODES;
            }
        }
        for (uint32_t index = 0; index < count; index++) {
            CHECK(list_node_at(&nodes, list, index) == node_indexes[index]);
            CHECK(list_node(&nodes, node_indexes[index])->value_index == index);
        }
        for (uint32_t index = 0; index < count; index++) {
            list_node(&nodes, node_indexes[index])->next = saved_next[index];
            list_node(&nodes, node_indexes[index])->prev = saved_prev[index];
        }
        list_verify(&nodes, list);
        for (uint32_t value = 0; value < count; value++) {
            CHECK(list_pop_head(&nodes, list) == value);
        }
        CHECK(list->count == 0);
    }
}

static void push_one_more(void *context)
{
    list_push_tail(&nodes, context, 999);
}

static void insert_one_more(void *context)
{
    struct list *list = context;
    list_insert(&nodes, list, list->head, false, 999);
}

/* A list of exactly NODES nodes, then two lists that share the pool until it is empty. */
static void test_exhaustion(struct list *list)
{
    CHECK(model_count == 0);
    for (uint32_t value = 0; value < NODES; value++) {
        if (value % 2 == 0) {
            list_push_tail(&nodes, list, value);
            model_insert(model_count, value);
        } else {
            list_push_head(&nodes, list, value);
            model_insert(0, value);
        }
        check_same(list);
    }
    CHECK(nodes.free_count == 0);
    CHECK(list->count == NODES);
    CHECK(dies_asserting(push_one_more, list, "list->count < nodes->slot_count"));
    CHECK(dies_asserting(insert_one_more, list, "acquired"));
    while (model_count > 0) {
        bool at_head = prng_below(2) == 0;
        uint32_t want = at_head ? model_remove(0) : model_remove(model_count - 1);
        CHECK((at_head ? list_pop_head(&nodes, list) : list_pop_tail(&nodes, list)) == want);
        check_same(list);
    }
    CHECK(nodes.free_count == NODES);
    struct list other;
    list_init(&other);
    for (uint32_t value = 0; value < NODES; value++) {
        list_push_tail(&nodes, value < 40 ? list : &other, value);
    }
    list_verify(&nodes, list);
    list_verify(&nodes, &other);
    CHECK(list->count == 40);
    CHECK(other.count == NODES - 40);
    CHECK(dies_asserting(push_one_more, &other, "acquired"));
    for (uint32_t value = 0; value < NODES - 40; value++) {
        CHECK(list_pop_head(&nodes, &other) == value + 40);
        CHECK(list_pop_tail(&nodes, list) == 39 - value);
    }
    while (list->count > 0) {
        (void)list_pop_head(&nodes, list);
    }
    CHECK(other.count == 0);
    CHECK(nodes.free_count == NODES);
}

static void pop_empty(void *context)
{
    (void)list_pop_head(&nodes, context);
}

static void position_past_end(void *context)
{
    struct list *list = context;
    (void)list_node_at(&nodes, list, list->count);
}

static void verify_broken_prev(void *context)
{
    struct list *list = context;
    list_node(&nodes, list->tail)->prev = list->tail;
    list_verify(&nodes, list);
}

static void verify_broken_next(void *context)
{
    struct list *list = context;
    list_node(&nodes, list->head)->next = list->head;
    list_verify(&nodes, list);
}

static void verify_wrong_count(void *context)
{
    struct list *list = context;
    list->count--;
    list_verify(&nodes, list);
}

static void test_deaths(struct list *list)
{
    CHECK(list->count == 0);
    CHECK(dies_asserting(pop_empty, list, "list->count > 0"));
    CHECK(dies_asserting(position_past_end, list, "index < list->count"));
    for (uint32_t value = 0; value < 3; value++) {
        list_push_tail(&nodes, list, value);
    }
    CHECK(dies_asserting(position_past_end, list, "index < list->count"));
    CHECK(dies_asserting(verify_broken_prev, list, "node->prev == expect_prev"));
    CHECK(dies_asserting(verify_broken_next, list, "node->prev == expect_prev"));
    CHECK(dies_asserting(verify_wrong_count, list, "node_index == LIST_NONE"));
    list_verify(&nodes, list); /* the children broke their own copies */
    while (list->count > 0) {
        (void)list_pop_tail(&nodes, list);
    }
}

/* Every operation at random, the model checked after each. */
static void test_random(struct list *list, uint64_t seed)
{
    int failures_before = check_failures;
    for (uint32_t step = 0; step < 20000 && check_failures == failures_before; step++) {
        uint32_t value = (uint32_t)prng_next();
        uint32_t action = prng_below(6);
        bool room = model_count < NODES;
        if (room && action == 0) {
            list_push_head(&nodes, list, value);
            model_insert(0, value);
        } else if (room && action == 1) {
            list_push_tail(&nodes, list, value);
            model_insert(model_count, value);
        } else if (room && model_count > 0 && action == 2) {
            uint32_t at = prng_below(model_count);
            bool before = prng_below(2) == 0;
            list_insert(&nodes, list, list_node_at(&nodes, list, at), before, value);
            model_insert(before ? at : at + 1, value);
        } else if (model_count > 0 && action == 3) {
            CHECK(list_pop_head(&nodes, list) == model_remove(0));
        } else if (model_count > 0 && action == 4) {
            CHECK(list_pop_tail(&nodes, list) == model_remove(model_count - 1));
        } else if (model_count > 0) {
            uint32_t at = prng_below(model_count);
            CHECK(list_remove(&nodes, list, list_node_at(&nodes, list, at)) == model_remove(at));
        }
        check_same(list);
    }
    if (check_failures != failures_before) {
        fprintf(stderr, "list random run failed (KV_SEED=%llu)\n", (unsigned long long)seed);
    }
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    struct region region;
    char error[256];
    if (region_map(&region, list_nodes_plan_bytes(NODES), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF,
                   error, sizeof(error)) != 0) {
        fprintf(stderr, "test_list: %s\n", error);
        return 1;
    }
    list_nodes_init(&nodes, &region, NODES);
    CHECK(region.carved_bytes <= list_nodes_plan_bytes(NODES));
    CHECK(nodes.slot_count == NODES);
    CHECK(nodes.slot_bytes >= sizeof(struct list_node));
    struct list list;
    list_init(&list);
    test_ends(&list);
    test_insert_remove(&list);
    test_nearer_end(&list);
    test_exhaustion(&list);
    test_deaths(&list);
    test_random(&list, seed);
    while (model_count > 0) {
        CHECK(list_pop_head(&nodes, &list) == model_remove(0));
    }
    check_same(&list);
    pool_verify(&nodes);
    region_unmap(&region);
    return check_exit("test_list");
}
