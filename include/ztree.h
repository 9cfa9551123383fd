/*
 * Sorted-set order for large sorted sets: a weight-balanced binary search tree over heap
 * nodes, ordered by (score, member bytes) as Redis orders a sorted set. Each node counts its
 * subtree, which gives both the rank queries (a node's rank, the node at a rank, how many
 * members lie below a score) in O(log n) and the balance rule, so no other field is needed.
 *
 * Balance (Hirai and Yamamoto's parameters delta = 3, gamma = 2, weights = size + 1): for
 * every node, delta * weight(one child) >= weight(the other). An insert or a removal restores
 * it with at most one single or double rotation per node on the path back up. A child then
 * weighs at most 3/4 of its parent, so a node at depth d has weight <= (3/4)^d * 2^32 and
 * at least 2: d <= 31 / log2(4/3) < 75. ZTREE_DEPTH_MAX bounds every path and stack.
 *
 * A node is ONE heap allocation carrying the member's bytes; its first four bytes are the
 * chain link of the dict (dict.h) that the store keeps from member to node, so the same node
 * serves both structures. Links are heap references (HEAP_REF_NONE: none). Nothing here
 * allocates except ztree_node_create; nothing recurses; every walk is bounded by the depth.
 */
#ifndef KV_ZTREE_H
#define KV_ZTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

/* Nodes on any path from the root: the depth bound above (74), plus room. */
#define ZTREE_DEPTH_MAX 80u

/* The most nodes a tree holds: sizes are uint32_t. */
#define ZTREE_COUNT_MAX UINT32_MAX

/* The head of a node; then varint(member length) (pack.h's code) and the member's bytes. */
struct ztree_node {
    uint32_t link;  /* the member dict's chain: first, as dict.h requires */
    uint32_t left;  /* smaller (score, member): the left child's reference, or NONE */
    uint32_t right; /* larger: the right child's reference, or NONE */
    uint32_t size;  /* nodes in this subtree, itself included; 0 while not in a tree */
    double score;   /* never NaN */
};

static_assert(sizeof(struct ztree_node) == 24, "a node head is 24 bytes, then the member");

/* A walk over consecutive ranks (ZRANGE, ZSCAN): the ancestors still to visit. */
struct ztree_walk {
    uint32_t stack[ZTREE_DEPTH_MAX]; /* forward: ancestors whose left subtree holds the walk;
                                        reverse: whose right subtree does */
    uint32_t depth;                  /* entries in stack */
    uint32_t next;                   /* the node ztree_walk_next returns, or NONE */
    bool reverse;                    /* towards lower ranks */
};

static inline struct ztree_node *ztree_node(const struct heap *heap, uint32_t ref)
{
    return (struct ztree_node *)heap_pointer(heap, ref);
}

/* Bytes a node of a member of `member_bytes` takes (before the heap's rounding). */
uint64_t ztree_node_bytes(uint32_t member_bytes);

/* A node for (score, member), not in any tree (size 0, no links). NULL when the heap has no
 * room. */
KV_MUST_USE struct ztree_node *ztree_node_create(struct heap *heap, struct slice member,
                                                 double score);

/* The member's bytes of a node. */
struct slice ztree_member(const struct ztree_node *node);

/* Orders two members as Redis does: memcmp, then the shorter first. */
int ztree_member_compare(struct slice a, struct slice b);

/* Orders (score, member) against a node: negative, zero or positive. */
int ztree_compare(double score, struct slice member, const struct ztree_node *node);

/* Nodes in the tree at `root` (0 when root is NONE). */
uint32_t ztree_count(const struct heap *heap, uint32_t root);

/* Links a node that is in no tree (size 0) and whose (score, member) is not in this tree. */
void ztree_insert(const struct heap *heap, uint32_t *root, uint32_t node_ref);

/* Unlinks a node of this tree (found by its own score and member); it is left with size 0
 * and no links, for the caller to free or insert again with a new score. */
void ztree_remove(const struct heap *heap, uint32_t *root, uint32_t node_ref);

/* The 0-based rank of a node of this tree. */
uint32_t ztree_rank(const struct heap *heap, uint32_t root, uint32_t node_ref);

/* The node at a 0-based rank (< count). */
uint32_t ztree_select(const struct heap *heap, uint32_t root, uint32_t rank);

/* How many nodes score below `score` (at most `score`, with or_equal): the rank where a
 * score range starts (or ends). */
uint32_t ztree_count_below(const struct heap *heap, uint32_t root, double score, bool or_equal);

/* How many nodes' members lie below `member` (at most, with or_equal), reading the tree as
 * ordered by member alone: exact when every score is equal, as BYLEX ranges assume. */
uint32_t ztree_count_below_member(const struct heap *heap, uint32_t root, struct slice member,
                                  bool or_equal);

/* Starts a walk at `rank` (< count) going up (or down, with reverse) one rank per call. */
void ztree_walk_start(const struct heap *heap, uint32_t root, uint32_t rank, bool reverse,
                      struct ztree_walk *walk);

/* The walk's next node, or NONE past the end. The tree must not change during a walk. */
uint32_t ztree_walk_next(const struct heap *heap, struct ztree_walk *walk);

/* Checks every invariant: order strictly increasing in an in-order walk, sizes, balance,
 * depth within ZTREE_DEPTH_MAX, no NaN score; calls visit (when not NULL) on every node in
 * order. Returns the node count. Iterative, O(n). */
uint32_t ztree_verify(const struct heap *heap, uint32_t root,
                      void (*visit)(void *context, uint32_t node_ref), void *context);

#endif
