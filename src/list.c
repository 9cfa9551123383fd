/*
 * Doubly linked lists over one pool of nodes shared by every list. Invariants: head and tail
 * are LIST_NONE exactly when count is 0; walking next from head visits count nodes, all in
 * use, and ends at tail; walking prev from tail visits the same nodes in reverse; each node's
 * prev names the node whose next names it. The store checks list_length_max (and so the
 * pool's room) before it pushes, so a push or insert that finds no free node is our bug and
 * asserts. Walks are bounded by count. The list never reads value bytes (a node holds only a
 * value slot index) and never allocates after init.
 */
#include "list.h"

static_assert(sizeof(struct list_node) == 16, "a node is four 32-bit words");

uint64_t list_nodes_plan_bytes(uint32_t node_count)
{
    KV_ASSERT(node_count > 0);
    return pool_plan_bytes(node_count, sizeof(struct list_node));
}

void list_nodes_init(struct pool *nodes, struct region *region, uint32_t node_count)
{
    KV_ASSERT(node_count > 0);
    /* LIST_NONE ends a chain, so it can never be a node index. */
    KV_ASSERT(node_count < LIST_NONE);
    pool_init(nodes, region, node_count, sizeof(struct list_node));
    KV_ASSERT(nodes->free_count == node_count);
}

void list_init(struct list *list)
{
    list->head = LIST_NONE;
    list->tail = LIST_NONE;
    list->count = 0;
}

/* Acquires a node holding value_index, not yet linked. */
static uint32_t node_take(struct pool *nodes, uint32_t value_index)
{
    uint32_t node_index = LIST_NONE;
    bool acquired = pool_acquire(nodes, &node_index);
    KV_ASSERT(acquired);
    struct list_node *node = list_node(nodes, node_index);
    node->prev = LIST_NONE;
    node->next = LIST_NONE;
    node->value_index = value_index;
    node->field_index = LIST_NONE;
    return node_index;
}

void list_push_head(struct pool *nodes, struct list *list, uint32_t value_index)
{
    KV_ASSERT(list->count < nodes->slot_count);
    uint32_t node_index = node_take(nodes, value_index);
    struct list_node *node = list_node(nodes, node_index);
    node->next = list->head;
    if (list->head == LIST_NONE) {
        list->tail = node_index;
    } else {
        list_node(nodes, list->head)->prev = node_index;
    }
    list->head = node_index;
    list->count++;
    KV_ASSERT(list->tail != LIST_NONE);
}

void list_push_tail(struct pool *nodes, struct list *list, uint32_t value_index)
{
    KV_ASSERT(list->count < nodes->slot_count);
    uint32_t node_index = node_take(nodes, value_index);
    struct list_node *node = list_node(nodes, node_index);
    node->prev = list->tail;
    if (list->tail == LIST_NONE) {
        list->head = node_index;
    } else {
        list_node(nodes, list->tail)->next = node_index;
    }
    list->tail = node_index;
    list->count++;
    KV_ASSERT(list->head != LIST_NONE);
}

uint32_t list_remove(struct pool *nodes, struct list *list, uint32_t node_index)
{
    KV_ASSERT(list->count > 0);
    KV_ASSERT(pool_is_used(nodes, node_index));
    struct list_node *node = list_node(nodes, node_index);
    if (node->prev == LIST_NONE) {
        KV_ASSERT(list->head == node_index);
        list->head = node->next;
    } else {
        list_node(nodes, node->prev)->next = node->next;
    }
    if (node->next == LIST_NONE) {
        KV_ASSERT(list->tail == node_index);
        list->tail = node->prev;
    } else {
        list_node(nodes, node->next)->prev = node->prev;
    }
    list->count--;
    uint32_t value_index = node->value_index;
    pool_release(nodes, node_index);
    KV_ASSERT((list->count == 0) == (list->head == LIST_NONE));
    return value_index;
}

uint32_t list_pop_head(struct pool *nodes, struct list *list)
{
    KV_ASSERT(list->count > 0);
    KV_ASSERT(list->head != LIST_NONE);
    return list_remove(nodes, list, list->head);
}

uint32_t list_pop_tail(struct pool *nodes, struct list *list)
{
    KV_ASSERT(list->count > 0);
    KV_ASSERT(list->tail != LIST_NONE);
    return list_remove(nodes, list, list->tail);
}

uint32_t list_node_at(const struct pool *nodes, const struct list *list, uint32_t index)
{
    KV_ASSERT(index < list->count);
    uint32_t node_index = LIST_NONE;
    /* At most count / 2 steps either way; pool_slot asserts on a LIST_NONE link. */
    if (index < list->count / 2) {
        node_index = list->head;
        for (uint32_t position = 0; position < index; position++) {
            node_index = list_node(nodes, node_index)->next;
        }
    } else {
        node_index = list->tail;
        for (uint32_t position = list->count - 1; position > index; position--) {
            node_index = list_node(nodes, node_index)->prev;
        }
    }
    KV_ASSERT(node_index != LIST_NONE);
    return node_index;
}

/* Links the unlinked node `added` in front of `node_index`. */
static void link_before(struct pool *nodes, struct list *list, uint32_t node_index,
                        uint32_t added)
{
    struct list_node *node = list_node(nodes, node_index);
    struct list_node *fresh = list_node(nodes, added);
    fresh->prev = node->prev;
    fresh->next = node_index;
    if (node->prev == LIST_NONE) {
        list->head = added;
    } else {
        list_node(nodes, node->prev)->next = added;
    }
    node->prev = added;
}

/* Links the unlinked node `added` behind `node_index`. */
static void link_after(struct pool *nodes, struct list *list, uint32_t node_index, uint32_t added)
{
    struct list_node *node = list_node(nodes, node_index);
    struct list_node *fresh = list_node(nodes, added);
    fresh->next = node->next;
    fresh->prev = node_index;
    if (node->next == LIST_NONE) {
        list->tail = added;
    } else {
        list_node(nodes, node->next)->prev = added;
    }
    node->next = added;
}

void list_insert(struct pool *nodes, struct list *list, uint32_t node_index, bool before,
                 uint32_t value_index)
{
    KV_ASSERT(list->count > 0);
    KV_ASSERT(pool_is_used(nodes, node_index));
    uint32_t added = node_take(nodes, value_index);
    if (before) {
        link_before(nodes, list, node_index, added);
    } else {
        link_after(nodes, list, node_index, added);
    }
    list->count++;
    KV_ASSERT(list->count <= nodes->slot_count);
}

/* Walks next from head: count nodes in use, each prev naming its predecessor, then the end. */
static void verify_forward(const struct pool *nodes, const struct list *list)
{
    uint32_t expect_prev = LIST_NONE;
    uint32_t node_index = list->head;
    for (uint32_t position = 0; position < list->count; position++) {
        KV_ASSERT(node_index != LIST_NONE);
        KV_ASSERT(pool_is_used(nodes, node_index));
        const struct list_node *node = list_node(nodes, node_index);
        KV_ASSERT(node->prev == expect_prev);
        expect_prev = node_index;
        node_index = node->next;
    }
    KV_ASSERT(node_index == LIST_NONE);
    KV_ASSERT(expect_prev == list->tail);
}

/* Walks prev from tail: count nodes in use, each next naming its successor, then the end. */
static void verify_backward(const struct pool *nodes, const struct list *list)
{
    uint32_t expect_next = LIST_NONE;
    uint32_t node_index = list->tail;
    for (uint32_t position = 0; position < list->count; position++) {
        KV_ASSERT(node_index != LIST_NONE);
        KV_ASSERT(pool_is_used(nodes, node_index));
        const struct list_node *node = list_node(nodes, node_index);
        KV_ASSERT(node->next == expect_next);
        expect_next = node_index;
        node_index = node->prev;
    }
    KV_ASSERT(node_index == LIST_NONE);
    KV_ASSERT(expect_next == list->head);
}

void list_verify(const struct pool *nodes, const struct list *list)
{
    KV_ASSERT(list->count <= pool_used_count(nodes));
    KV_ASSERT((list->count == 0) == (list->head == LIST_NONE));
    KV_ASSERT((list->count == 0) == (list->tail == LIST_NONE));
    verify_forward(nodes, list);
    verify_backward(nodes, list);
}
