/*
 * Doubly linked lists whose nodes come from one fixed pool. A node holds the index of a
 * value slot owned by the store; the list module never touches value bytes. Links are
 * 32-bit node indexes, LIST_NONE ends a chain. Pushing asserts a node is free: the store
 * checks list_length_max (and so the pool's room) before it pushes.
 */
#ifndef KV_LIST_H
#define KV_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

#define LIST_NONE UINT32_MAX

struct list {
    uint32_t head;   /* first node index, LIST_NONE when empty */
    uint32_t tail;   /* last node index, LIST_NONE when empty */
    uint32_t count;  /* nodes in the list */
};

struct list_node {
    uint32_t prev;         /* node index toward the head, LIST_NONE at the head */
    uint32_t next;         /* node index toward the tail, LIST_NONE at the tail */
    uint32_t value_index;  /* value slot in the store's value pool */
    uint32_t field_index;  /* hash field slot in the store's field pool; LIST_NONE in a list */
};

/* Bytes list_nodes_init carves for node_count nodes. */
uint64_t list_nodes_plan_bytes(uint32_t node_count);

/* Carves the node pool: node_count nodes of struct list_node. */
void list_nodes_init(struct pool *nodes, struct region *region, uint32_t node_count);

void list_init(struct list *list);

/* Push a value at the head or the tail; asserts the pool has a free node. */
void list_push_head(struct pool *nodes, struct list *list, uint32_t value_index);
void list_push_tail(struct pool *nodes, struct list *list, uint32_t value_index);

/* Pop from the head or the tail; asserts the list is not empty; returns the value index. */
uint32_t list_pop_head(struct pool *nodes, struct list *list);
uint32_t list_pop_tail(struct pool *nodes, struct list *list);

/* Node index at position `index` (0-based from the head); asserts index < count. Walks from
 * the nearer end. */
uint32_t list_node_at(const struct pool *nodes, const struct list *list, uint32_t index);

static inline struct list_node *list_node(const struct pool *nodes, uint32_t node_index)
{
    return (struct list_node *)pool_slot(nodes, node_index);
}

/* Unlinks node_index from the list and releases it; returns its value index. */
uint32_t list_remove(struct pool *nodes, struct list *list, uint32_t node_index);

/* Inserts value_index before (before=true) or after node_index; asserts a free node. */
void list_insert(struct pool *nodes, struct list *list, uint32_t node_index, bool before,
                 uint32_t value_index);

/* Checks the chain: count nodes both ways, links mirror each other, head/tail ends. */
void list_verify(const struct pool *nodes, const struct list *list);

#endif
