/*
 * The weight-balanced sorted-set tree against a sorted array: seeded random inserts,
 * removals and rescores of (score, member) pairs with many equal scores (ties broken by
 * member bytes, shorter first); after each step ztree_verify checks order, sizes, balance
 * and depth, and ranks, the node at each rank, walks both ways from a random rank and the
 * counts below a score or a member agree with the array. Then the shapes that unbalance
 * naive trees (a million ascending inserts, removals from one end) stay within the depth
 * bound, and every node goes back to the heap (its allocation count returns to zero).
 * KV_SEED replays a run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "region.h"
#include "ztree.h"

#define MEMBERS 400u
#define STEPS 30000u

static struct region region;
static struct heap heap;

/* Member i's bytes: lengths 0 to 5 so that prefixes order before longer members. */
static char member_text[MEMBERS][16];

static struct slice member_of(uint32_t index)
{
    return (struct slice){.bytes = (const uint8_t *)member_text[index],
                          .length = (uint32_t)strlen(member_text[index])};
}

/* The model: member indexes in tree order, and each member's node and score. */
static uint32_t model[MEMBERS];
static uint32_t model_count;
static uint32_t node_of[MEMBERS];
static double score_of[MEMBERS];

static int model_order(uint32_t a, uint32_t b)
{
    if (score_of[a] != score_of[b]) {
        return score_of[a] < score_of[b] ? -1 : 1;
    }
    return ztree_member_compare(member_of(a), member_of(b));
}

static void model_insert(uint32_t member)
{
    uint32_t at = 0;
    while (at < model_count && model_order(model[at], member) < 0) {
        at++;
    }
    memmove(&model[at + 1], &model[at], (model_count - at) * sizeof(model[0]));
    model[at] = member;
    model_count++;
}

static void model_remove(uint32_t member)
{
    uint32_t at = 0;
    while (model[at] != member) {
        at++;
    }
    memmove(&model[at], &model[at + 1], (model_count - at - 1) * sizeof(model[0]));
    model_count--;
}

static double random_score(void)
{
    static const double scores[] = {0, 1, 2, -1, 1.5, -INFINITY, INFINITY, 3, 100, -0.25};
    return scores[random_next() % (sizeof(scores) / sizeof(scores[0]))];
}

/* Everything the tree answers, against the model. */
static void compare(uint32_t root)
{
    CHECK(ztree_verify(&heap, root, NULL, NULL) == model_count);
    CHECK(ztree_count(&heap, root) == model_count);
    for (uint32_t rank = 0; rank < model_count; rank++) {
        uint32_t node = node_of[model[rank]];
        CHECK(ztree_select(&heap, root, rank) == node);
        CHECK(ztree_rank(&heap, root, node) == rank);
    }
    if (model_count == 0) {
        return;
    }
    uint32_t start = (uint32_t)(random_next() % model_count);
    bool reverse = random_next() % 2 == 0;
    struct ztree_walk walk;
    ztree_walk_start(&heap, root, start, reverse, &walk);
    uint32_t steps = reverse ? start + 1 : model_count - start;
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t rank = reverse ? start - step : start + step;
        CHECK(ztree_walk_next(&heap, &walk) == node_of[model[rank]]);
    }
    CHECK(ztree_walk_next(&heap, &walk) == HEAP_REF_NONE);
    double score = random_score();
    uint32_t below = 0;
    uint32_t at_most = 0;
    for (uint32_t rank = 0; rank < model_count; rank++) {
        below += score_of[model[rank]] < score ? 1 : 0;
        at_most += score_of[model[rank]] <= score ? 1 : 0;
    }
    CHECK(ztree_count_below(&heap, root, score, false) == below);
    CHECK(ztree_count_below(&heap, root, score, true) == at_most);
}

/* With every score equal the tree is ordered by member: the lexicographic counts. */
static void test_members(void)
{
    uint32_t root = HEAP_REF_NONE;
    for (uint32_t index = 0; index < MEMBERS; index++) {
        struct ztree_node *node = ztree_node_create(&heap, member_of(index), 7);
        CHECK(node != NULL);
        node_of[index] = heap_ref(&heap, node);
        ztree_insert(&heap, &root, node_of[index]);
    }
    for (uint32_t probe = 0; probe < 200; probe++) {
        struct slice member = member_of((uint32_t)(random_next() % MEMBERS));
        uint32_t below = 0;
        uint32_t at_most = 0;
        for (uint32_t index = 0; index < MEMBERS; index++) {
            int order = ztree_member_compare(member_of(index), member);
            below += order < 0 ? 1 : 0;
            at_most += order <= 0 ? 1 : 0;
        }
        CHECK(ztree_count_below_member(&heap, root, member, false) == below);
        CHECK(ztree_count_below_member(&heap, root, member, true) == at_most);
    }
    for (uint32_t index = 0; index < MEMBERS; index++) {
        ztree_remove(&heap, &root, node_of[index]);
        heap_release(&heap, ztree_node(&heap, node_of[index]));
    }
    CHECK(root == HEAP_REF_NONE && heap.allocations == 0);
}

static void test_churn(void)
{
    uint32_t root = HEAP_REF_NONE;
    bool present[MEMBERS] = {0};
    model_count = 0;
    for (uint32_t step = 0; step < STEPS; step++) {
        uint32_t member = (uint32_t)(random_next() % MEMBERS);
        uint32_t roll = (uint32_t)(random_next() % 10);
        if (!present[member]) {
            score_of[member] = random_score();
            struct ztree_node *node = ztree_node_create(&heap, member_of(member), score_of[member]);
            CHECK(node != NULL);
            node_of[member] = heap_ref(&heap, node);
            ztree_insert(&heap, &root, node_of[member]);
            model_insert(member);
            present[member] = true;
        } else if (roll < 4) {
            ztree_remove(&heap, &root, node_of[member]);
            heap_release(&heap, ztree_node(&heap, node_of[member]));
            model_remove(member);
            present[member] = false;
        } else {
            /* A new score: out and back in, as the store rescores. */
            ztree_remove(&heap, &root, node_of[member]);
            model_remove(member);
            score_of[member] = random_score();
            ztree_node(&heap, node_of[member])->score = score_of[member];
            ztree_insert(&heap, &root, node_of[member]);
            model_insert(member);
        }
        if (step % 50 == 0 || model_count < 8) {
            compare(root);
        }
    }
    compare(root);
    for (uint32_t member = 0; member < MEMBERS; member++) {
        if (present[member]) {
            ztree_remove(&heap, &root, node_of[member]);
            heap_release(&heap, ztree_node(&heap, node_of[member]));
        }
    }
    CHECK(root == HEAP_REF_NONE && heap.allocations == 0);
}

/* The height of a tree: the deepest path, by a bounded iterative walk. */
static uint32_t height(uint32_t root)
{
    uint32_t stack[ZTREE_DEPTH_MAX];
    uint32_t depths[ZTREE_DEPTH_MAX];
    uint32_t top = 0;
    uint32_t deepest = 0;
    if (root != HEAP_REF_NONE) {
        stack[top] = root;
        depths[top++] = 1;
    }
    while (top > 0) {
        top--;
        uint32_t ref = stack[top];
        uint32_t depth = depths[top];
        deepest = depth > deepest ? depth : deepest;
        const struct ztree_node *node = ztree_node(&heap, ref);
        if (node->left != HEAP_REF_NONE && top < ZTREE_DEPTH_MAX) {
            stack[top] = node->left;
            depths[top++] = depth + 1;
        }
        if (node->right != HEAP_REF_NONE && top < ZTREE_DEPTH_MAX) {
            stack[top] = node->right;
            depths[top++] = depth + 1;
        }
    }
    return deepest;
}

/* A million ascending scores, then removals from the low end: the worst orders for an
 * unbalanced tree stay within the bound (about 1.5 log2 n here). */
static void test_sequential(void)
{
    enum { COUNT = 1000000 };
    static uint32_t refs[COUNT];
    uint32_t root = HEAP_REF_NONE;
    char text[16];
    for (uint32_t index = 0; index < COUNT; index++) {
        int length = snprintf(text, sizeof(text), "m%u", index);
        struct slice member = {.bytes = (const uint8_t *)text, .length = (uint32_t)length};
        struct ztree_node *node = ztree_node_create(&heap, member, index);
        CHECK(node != NULL);
        refs[index] = heap_ref(&heap, node);
        ztree_insert(&heap, &root, refs[index]);
    }
    CHECK(ztree_verify(&heap, root, NULL, NULL) == COUNT);
    uint32_t tall = height(root);
    fprintf(stderr, "test_ztree: 1M ascending inserts, height %u (bound %u)\n", tall,
            ZTREE_DEPTH_MAX);
    CHECK(tall <= 30);
    CHECK(ztree_rank(&heap, root, refs[123456]) == 123456);
    CHECK(ztree_select(&heap, root, 999999) == refs[999999]);
    CHECK(ztree_count_below(&heap, root, 500000, false) == 500000);
    for (uint32_t index = 0; index < COUNT / 2; index++) {
        ztree_remove(&heap, &root, refs[index]);
        heap_release(&heap, ztree_node(&heap, refs[index]));
    }
    CHECK(ztree_verify(&heap, root, NULL, NULL) == COUNT / 2);
    CHECK(height(root) <= 30);
    CHECK(ztree_rank(&heap, root, refs[COUNT / 2]) == 0);
    for (uint32_t index = COUNT / 2; index < COUNT; index++) {
        ztree_remove(&heap, &root, refs[index]);
        heap_release(&heap, ztree_node(&heap, refs[index]));
    }
    CHECK(root == HEAP_REF_NONE && heap.allocations == 0);
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_ztree: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    seed_state = seed;
    char error[256];
    uint64_t heap_bytes = 256ull << 20;
    if (region_map(&region, heap_plan_bytes(heap_bytes) + 8192, CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        return 1;
    }
    heap_init(&heap, &region, heap_bytes);
    for (uint32_t index = 0; index < MEMBERS; index++) {
        uint32_t length = index % 6;
        for (uint32_t at = 0; at < length; at++) {
            member_text[index][at] = (char)('a' + (index / (at + 1)) % 3);
        }
        snprintf(member_text[index] + length, 16 - length, "%u", index / 6);
    }
    test_members();
    test_churn();
    test_sequential();
    return check_exit("test_ztree");
}
