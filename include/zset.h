/*
 * Sorted-set order: a treap (a binary search tree kept balanced by random priorities) over
 * nodes from one fixed pool, ordered by (score, member bytes) as Redis orders a sorted set.
 * Each node counts its subtree, so a node's rank and the node at a rank take O(log n)
 * expected steps, as do insertion and removal. Members' bytes live with the caller (the
 * store's field pool), read through an accessor. Nothing is allocated: the caller takes and
 * gives back nodes.
 */
#ifndef KV_ZSET_H
#define KV_ZSET_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "slice.h"

#define ZSET_NONE UINT32_MAX

struct zset_node {
    uint32_t left;        /* ZSET_NONE when absent */
    uint32_t right;
    uint32_t parent;      /* ZSET_NONE at the root */
    uint32_t size;        /* nodes in this subtree, this one included */
    uint32_t priority;    /* heap order: a parent's is at least its children's */
    uint32_t field_index; /* the member's bytes, in the caller's field pool */
    uint32_t owner;       /* the key slot holding the set (the caller's member index) */
    uint32_t reserved;
    double score;
};

/* One sorted set: its root and size. */
struct zset {
    uint32_t root;
    uint32_t count;
};

/* The order's context: the node pool and how to read a member's bytes. */
struct zset_tree {
    struct pool *nodes;
    struct slice (*member)(const void *context, uint32_t field_index);
    const void *member_context;
    uint64_t random_state; /* priorities */
};

static inline struct zset_node *zset_node(const struct zset_tree *tree, uint32_t node_index)
{
    return (struct zset_node *)pool_slot(tree->nodes, node_index);
}

void zset_init(struct zset *set);

/* Orders (score, member) against a node: negative, zero or positive. */
int zset_compare(const struct zset_tree *tree, double score, struct slice member,
                 uint32_t node_index);

/* Links a taken node whose score, field_index and owner are set (it must not be present). */
void zset_insert(struct zset_tree *tree, struct zset *set, uint32_t node_index);

/* Unlinks a node (the caller gives it back to the pool). */
void zset_remove(struct zset_tree *tree, struct zset *set, uint32_t node_index);

/* 0-based rank of a node in its set. */
uint32_t zset_rank(const struct zset_tree *tree, uint32_t node_index);

/* The node at a 0-based rank (< count). */
uint32_t zset_select(const struct zset_tree *tree, const struct zset *set, uint32_t rank);

/* In-order neighbours; ZSET_NONE past the ends. */
uint32_t zset_next(const struct zset_tree *tree, uint32_t node_index);
uint32_t zset_prev(const struct zset_tree *tree, uint32_t node_index);

/* How many nodes have a score below `score` (or at most `score`, with or_equal): the rank
 * of the first node at or above it (or above it). */
uint32_t zset_count_below(const struct zset_tree *tree, const struct zset *set, double score,
                          bool or_equal);

/* Checks the tree: order, heap priorities, sizes, parent links; count nodes. */
void zset_verify(const struct zset_tree *tree, const struct zset *set);

#endif
