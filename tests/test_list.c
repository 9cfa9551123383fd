/*
 * Proves lists keep their order and links through pushes and pops at both ends, positional
 * lookup from either end, insertion before and after, removal from the middle, and a list
 * that takes every node of the pool; list_verify() after every step, against an array model.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "list.h"

#define NODES 64u

static struct pool nodes;

/* The model: values in order. */
static uint32_t model[NODES];
static uint32_t model_count;

static void check_same(const struct list *list)
{
    list_verify(&nodes, list);
    CHECK(list->count == model_count);
    for (uint32_t index = 0; index < model_count; index++) {
        uint32_t node = list_node_at(&nodes, list, index);
        CHECK(list_node(&nodes, node)->value_index == model[index]);
    }
}

static void model_insert(uint32_t at, uint32_t value)
{
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

int main(void)
{
    struct region region;
    char error[256];
    CHECK(region_map(&region, list_nodes_plan_bytes(NODES), CONFIG_HUGEPAGES_OFF,
                     CONFIG_MLOCK_OFF, error, sizeof(error)) == 0);
    list_nodes_init(&nodes, &region, NODES);
    struct list list;
    list_init(&list);
    check_same(&list);
    srand(99);
    for (uint32_t step = 0; step < 20000 && check_failures == 0; step++) {
        uint32_t value = (uint32_t)rand();
        int action = rand() % 6;
        if (model_count < NODES && action == 0) {
            list_push_head(&nodes, &list, value);
            model_insert(0, value);
        } else if (model_count < NODES && action == 1) {
            list_push_tail(&nodes, &list, value);
            model_insert(model_count, value);
        } else if (model_count < NODES && model_count > 0 && action == 2) {
            uint32_t at = (uint32_t)rand() % model_count;
            bool before = rand() % 2;
            list_insert(&nodes, &list, list_node_at(&nodes, &list, at), before, value);
            model_insert(before ? at : at + 1, value);
        } else if (model_count > 0 && action == 3) {
            CHECK(list_pop_head(&nodes, &list) == model_remove(0));
        } else if (model_count > 0 && action == 4) {
            CHECK(list_pop_tail(&nodes, &list) == model_remove(model_count - 1));
        } else if (model_count > 0) {
            uint32_t at = (uint32_t)rand() % model_count;
            CHECK(list_remove(&nodes, &list, list_node_at(&nodes, &list, at)) == model_remove(at));
        }
        check_same(&list);
        CHECK(pool_used_count(&nodes) == model_count);
    }
    /* A list that takes every node, then empties. */
    while (model_count > 0) {
        CHECK(list_pop_head(&nodes, &list) == model_remove(0));
    }
    for (uint32_t value = 0; value < NODES; value++) {
        list_push_tail(&nodes, &list, value);
        model_insert(model_count, value);
    }
    check_same(&list);
    CHECK(nodes.free_count == 0);
    for (uint32_t value = 0; value < NODES; value++) {
        CHECK(list_pop_head(&nodes, &list) == value);
    }
    CHECK(list.count == 0 && list.head == LIST_NONE && list.tail == LIST_NONE);
    CHECK(nodes.free_count == NODES);
    return check_exit("test_list");
}
