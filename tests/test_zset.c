/*
 * The sorted-set treap against a sorted array: random inserts and removals of (score,
 * member) pairs, with ties in score broken by member bytes; after each step the tree's
 * invariants hold (zset_verify), and ranks, the node at each rank, neighbours and the counts
 * below a score or a member agree with the array.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "region.h"
#include "zset.h"

#define NODES 300u
#define MEMBERS 64u
#define STEPS 20000u

static char member_text[MEMBERS][8];

static struct slice member_bytes(const void *context, uint32_t field_index)
{
    (void)context;
    return (struct slice){.bytes = (const uint8_t *)member_text[field_index],
                          .length = (uint32_t)strlen(member_text[field_index])};
}

/* The model: node indexes in order. */
static uint32_t model[NODES];
static uint32_t model_count;

static int order(struct zset_tree *tree, uint32_t a, uint32_t b)
{
    const struct zset_node *node = zset_node(tree, a);
    return zset_compare(tree, node->score, member_bytes(NULL, node->field_index), b);
}

int main(void)
{
    struct region region;
    char error[256];
    struct pool nodes;
    if (region_map(&region, 1u << 20, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    pool_init(&nodes, &region, NODES, sizeof(struct zset_node));
    struct zset_tree tree = {.nodes = &nodes, .member = member_bytes, .random_state = 99};
    struct zset set;
    zset_init(&set);
    for (uint32_t index = 0; index < MEMBERS; index++) {
        snprintf(member_text[index], sizeof(member_text[index]), "m%u", index * 7 % MEMBERS);
    }
    srand(4242);
    bool present[MEMBERS] = {false};
    uint32_t node_of[MEMBERS];
    for (uint32_t step = 0; step < STEPS; step++) {
        uint32_t member = (uint32_t)rand() % MEMBERS;
        if (!present[member]) {
            uint32_t node_index = 0;
            CHECK(pool_acquire(&nodes, &node_index));
            struct zset_node *node = zset_node(&tree, node_index);
            node->field_index = member;
            node->owner = 0;
            node->score = (double)(rand() % 5) - 2.0; /* many ties: the member decides */
            zset_insert(&tree, &set, node_index);
            present[member] = true;
            node_of[member] = node_index;
            uint32_t at = 0;
            while (at < model_count && order(&tree, model[at], node_index) < 0) {
                at++;
            }
            memmove(&model[at + 1], &model[at], (model_count - at) * sizeof(model[0]));
            model[at] = node_index;
            model_count++;
        } else {
            uint32_t node_index = node_of[member];
            zset_remove(&tree, &set, node_index);
            pool_release(&nodes, node_index);
            present[member] = false;
            uint32_t at = 0;
            while (model[at] != node_index) {
                at++;
            }
            memmove(&model[at], &model[at + 1], (model_count - at - 1) * sizeof(model[0]));
            model_count--;
        }
        zset_verify(&tree, &set);
        CHECK(set.count == model_count);
        if (model_count == 0) {
            continue;
        }
        uint32_t probe = (uint32_t)rand() % model_count;
        CHECK(zset_select(&tree, &set, probe) == model[probe]);
        CHECK(zset_rank(&tree, model[probe]) == probe);
        double score = (double)(rand() % 7) - 3.0;
        uint32_t below = 0;
        uint32_t at_most = 0;
        for (uint32_t index = 0; index < model_count; index++) {
            below += zset_node(&tree, model[index])->score < score ? 1 : 0;
            at_most += zset_node(&tree, model[index])->score <= score ? 1 : 0;
        }
        CHECK(zset_count_below(&tree, &set, score, false) == below);
        CHECK(zset_count_below(&tree, &set, score, true) == at_most);
    }
    return check_exit("test_zset");
}
