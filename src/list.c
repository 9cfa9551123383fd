/*
 * Doubly linked lists over a pool of nodes. Invariants: head and tail are LIST_NONE exactly
 * when count is 0; walking next from head visits count nodes and ends at tail; each node's
 * prev mirrors its predecessor's next. The store checks list_length_max before pushing, so a
 * push that finds the node pool empty is our bug and asserts. Never allocates.
 */
#include "list.h"

uint64_t list_nodes_plan_bytes(uint32_t node_count)
{
    return pool_plan_bytes(node_count, sizeof(struct list_node));
}

void list_nodes_init(struct pool *nodes, struct region *region, uint32_t node_count)
{
    pool_init(nodes, region, node_count, sizeof(struct list_node));
}

void list_init(struct list *list)
{
    list->head = LIST_NONE;
    list->tail = LIST_NONE;
    list->count = 0;
}

static uint32_t node_take(struct pool *nodes, uint32_t value_index)
{
    uint32_t node_index = 0;
    bool acquired = pool_acquire(nodes, &node_index);
    KV_ASSERT(acquired);
    struct list_node *node = list_node(nodes, node_index);
    node->prev = LIST_NONE;
    node->next = LIST_NONE;
    node->value_index = value_index;
    return node_index;
}

void list_push_head(struct pool *nodes, struct list *list, uint32_t value_index)
{
    uint32_t node_index = node_take(nodes, value_index);
    struct list_node *node = list_node(nodes, node_index);
    node->next = list->head;
    if (list->head != LIST_NONE) {
        list_node(nodes, list->head)->prev = node_index;
    } else {
        list->tail = node_index;
    }
    list->head = node_index;
    list->count++;
}

void list_push_tail(struct pool *nodes, struct list *list, uint32_t value_index)
{
    uint32_t node_index = node_take(nodes, value_index);
    struct list_node *node = list_node(nodes, node_index);
    node->prev = list->tail;
    if (list->tail != LIST_NONE) {
        list_node(nodes, list->tail)->next = node_index;
    } else {
        list->head = node_index;
    }
    list->tail = node_index;
    list->count++;
}

uint32_t list_remove(struct pool *nodes, struct list *list, uint32_t node_index)
{
    KV_ASSERT(list->count > 0 && pool_is_used(nodes, node_index));
    struct list_node *node = list_node(nodes, node_index);
    if (node->prev != LIST_NONE) {
        list_node(nodes, node->prev)->next = node->next;
    } else {
        KV_ASSERT(list->head == node_index);
        list->head = node->next;
    }
    if (node->next != LIST_NONE) {
        list_node(nodes, node->next)->prev = node->prev;
    } else {
        KV_ASSERT(list->tail == node_index);
        list->tail = node->prev;
    }
    list->count--;
    uint32_t value_index = node->value_index;
    pool_release(nodes, node_index);
    return value_index;
}

uint32_t list_pop_head(struct pool *nodes, struct list *list)
{
    KV_ASSERT(list->count > 0);
    return list_remove(nodes, list, list->head);
}

uint32_t list_pop_tail(struct pool *nodes, struct list *list)
{
    KV_ASSERT(list->count > 0);
    return list_remove(nodes, list, list->tail);
}

uint32_t list_node_at(const struct pool *nodes, const struct list *list, uint32_t index)
{
    KV_ASSERT(index < list->count);
    uint32_t node_index = 0;
    if (index < list->count / 2) {
        node_index = list->head;
        for (uint32_t step = 0; step < index; step++) {
            node_index = list_node(nodes, node_index)->next;
        }
    } else {
        node_index = list->tail;
        for (uint32_t step = list->count - 1; step > index; step--) {
            node_index = list_node(nodes, node_index)->prev;
        }
    }
    KV_ASSERT(node_index != LIST_NONE);
    return node_index;
}

void list_insert(struct pool *nodes, struct list *list, uint32_t node_index, bool before,
                 uint32_t value_index)
{
    KV_ASSERT(list->count > 0 && pool_is_used(nodes, node_index));
    uint32_t inserted = node_take(nodes, value_index);
    struct list_node *node = list_node(nodes, node_index);
    struct list_node *added = list_node(nodes, inserted);
    if (before) {
        added->prev = node->prev;
        added->next = node_index;
        if (node->prev != LIST_NONE) {
            list_node(nodes, node->prev)->next = inserted;
        } else {
            list->head = inserted;
        }
        node->prev = inserted;
    } else {
        added->next = node->next;
        added->prev = node_index;
        if (node->next != LIST_NONE) {
            list_node(nodes, node->next)->prev = inserted;
        } else {
            list->tail = inserted;
        }
        node->next = inserted;
    }
    list->count++;
}

void list_verify(const struct pool *nodes, const struct list *list)
{
    KV_ASSERT((list->count == 0) == (list->head == LIST_NONE));
    KV_ASSERT((list->count == 0) == (list->tail == LIST_NONE));
    uint32_t previous = LIST_NONE;
    uint32_t node_index = list->head;
    for (uint32_t step = 0; step < list->count; step++) {
        KV_ASSERT(node_index != LIST_NONE && pool_is_used(nodes, node_index));
        const struct list_node *node = list_node(nodes, node_index);
        KV_ASSERT(node->prev == previous);
        previous = node_index;
        node_index = node->next;
    }
    KV_ASSERT(node_index == LIST_NONE && previous == list->tail);
}
