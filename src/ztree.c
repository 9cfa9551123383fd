/*
 * The weight-balanced sorted-set tree (ztree.h). Invariants, each checked by ztree_verify:
 * an in-order walk is strictly increasing by (score, member); each node's size is 1 plus its
 * children's; for each node delta * (size(left) + 1) >= size(right) + 1 and the reverse; no
 * path holds more than ZTREE_DEPTH_MAX nodes. Inserts and removals record their path from
 * the root on a bounded stack (there are no parent links), change the tree at its bottom,
 * then walk the path back up recomputing sizes and rotating where a node lost its balance:
 * the bottom-up form of Hirai and Yamamoto's recursive algorithm, whose proof for
 * (delta, gamma) = (3, 2) covers one insertion or one deletion per balance pass.
 * No recursion, no allocation but ztree_node_create, no I/O.
 */
#include "ztree.h"

#include <math.h>
#include <string.h>

#include "pack.h"

/* A child may weigh up to ZTREE_DELTA times its sibling (weights are sizes + 1). */
#define ZTREE_DELTA 3u

/* Rotating a heavy child whose inner grandchild weighs less than ZTREE_GAMMA times its outer
 * one takes a single rotation; otherwise a double one. */
#define ZTREE_GAMMA 2u

static_assert(ZTREE_DEPTH_MAX >= 75, "the balance bounds a path by 31 / log2(4/3) < 75 nodes");
static_assert((uint64_t)ZTREE_DELTA * ((uint64_t)ZTREE_COUNT_MAX + 1) < UINT64_MAX,
              "weights times delta fit 64 bits");

uint64_t ztree_node_bytes(uint32_t member_bytes)
{
    return sizeof(struct ztree_node) + pack_varint_bytes(member_bytes) + member_bytes;
}

struct ztree_node *ztree_node_create(struct heap *heap, struct slice member, double score)
{
    KV_ASSERT(!isnan(score));
    KV_ASSERT(member.bytes != NULL || member.length == 0);
    struct ztree_node *node = heap_alloc(heap, ztree_node_bytes(member.length));
    if (node == NULL) {
        return NULL;
    }
    *node = (struct ztree_node){
        .link = HEAP_REF_NONE, .left = HEAP_REF_NONE, .right = HEAP_REF_NONE, .score = score};
    uint8_t *at = (uint8_t *)(node + 1);
    at += pack_varint_write(at, member.length);
    if (member.length > 0) {
        memcpy(at, member.bytes, member.length);
    }
    KV_ASSERT(ztree_member(node).length == member.length);
    return node;
}

struct slice ztree_member(const struct ztree_node *node)
{
    const uint8_t *at = (const uint8_t *)(node + 1);
    uint32_t length = 0;
    at += pack_varint_read(at, &length);
    return (struct slice){.bytes = at, .length = length};
}

int ztree_member_compare(struct slice a, struct slice b)
{
    uint32_t common = a.length < b.length ? a.length : b.length;
    int order = common > 0 ? memcmp(a.bytes, b.bytes, common) : 0;
    if (order != 0) {
        return order;
    }
    return a.length < b.length ? -1 : (a.length > b.length ? 1 : 0);
}

int ztree_compare(double score, struct slice member, const struct ztree_node *node)
{
    KV_ASSERT(!isnan(score));
    if (score < node->score) {
        return -1;
    }
    if (score > node->score) {
        return 1;
    }
    return ztree_member_compare(member, ztree_member(node));
}

static uint32_t size_of(const struct heap *heap, uint32_t ref)
{
    return ref == HEAP_REF_NONE ? 0 : ztree_node(heap, ref)->size;
}

uint32_t ztree_count(const struct heap *heap, uint32_t root)
{
    return size_of(heap, root);
}

static void size_update(const struct heap *heap, uint32_t ref)
{
    struct ztree_node *node = ztree_node(heap, ref);
    uint64_t size = 1ull + size_of(heap, node->left) + size_of(heap, node->right);
    KV_ASSERT(size <= ZTREE_COUNT_MAX);
    node->size = (uint32_t)size;
}

/* The right child rises above `ref`; returns the subtree's new top. */
static uint32_t rotate_left(const struct heap *heap, uint32_t ref)
{
    struct ztree_node *node = ztree_node(heap, ref);
    uint32_t top_ref = node->right;
    KV_ASSERT(top_ref != HEAP_REF_NONE);
    struct ztree_node *top = ztree_node(heap, top_ref);
    node->right = top->left;
    top->left = ref;
    size_update(heap, ref);
    size_update(heap, top_ref);
    return top_ref;
}

/* The left child rises above `ref`; returns the subtree's new top. */
static uint32_t rotate_right(const struct heap *heap, uint32_t ref)
{
    struct ztree_node *node = ztree_node(heap, ref);
    uint32_t top_ref = node->left;
    KV_ASSERT(top_ref != HEAP_REF_NONE);
    struct ztree_node *top = ztree_node(heap, top_ref);
    node->left = top->right;
    top->right = ref;
    size_update(heap, ref);
    size_update(heap, top_ref);
    return top_ref;
}

/* Whether a subtree of `size` may sit beside one of `other` nodes. */
static bool weight_fits(uint32_t size, uint32_t other)
{
    return (uint64_t)ZTREE_DELTA * ((uint64_t)size + 1) >= (uint64_t)other + 1;
}

/* Restores the balance at `ref`, whose children are balanced trees and whose size is
 * current, after one insertion or removal below it; returns the subtree's new top. */
static uint32_t balance(const struct heap *heap, uint32_t ref)
{
    struct ztree_node *node = ztree_node(heap, ref);
    uint32_t left_size = size_of(heap, node->left);
    uint32_t right_size = size_of(heap, node->right);
    KV_ASSERT((uint64_t)node->size == 1ull + left_size + right_size);
    if (!weight_fits(left_size, right_size)) {
        const struct ztree_node *right = ztree_node(heap, node->right);
        uint64_t inner = (uint64_t)size_of(heap, right->left) + 1;
        if (inner >= (uint64_t)ZTREE_GAMMA * ((uint64_t)size_of(heap, right->right) + 1)) {
            node->right = rotate_right(heap, node->right);
        }
        return rotate_left(heap, ref);
    }
    if (!weight_fits(right_size, left_size)) {
        const struct ztree_node *left = ztree_node(heap, node->left);
        uint64_t inner = (uint64_t)size_of(heap, left->right) + 1;
        if (inner >= (uint64_t)ZTREE_GAMMA * ((uint64_t)size_of(heap, left->left) + 1)) {
            node->left = rotate_left(heap, node->left);
        }
        return rotate_right(heap, ref);
    }
    return ref;
}

/* A path from the root: nodes[i] is at depth i, and went_left[i] says which child of it the
 * path goes on to. */
struct ztree_path {
    uint32_t nodes[ZTREE_DEPTH_MAX];
    bool went_left[ZTREE_DEPTH_MAX];
    uint32_t depth;
};

static void path_push(struct ztree_path *path, uint32_t ref, bool left)
{
    KV_ASSERT(path->depth < ZTREE_DEPTH_MAX); /* the balance bounds every path */
    KV_ASSERT(ref != HEAP_REF_NONE);
    path->nodes[path->depth] = ref;
    path->went_left[path->depth] = left;
    path->depth++;
}

/* Makes `child` the subtree at depth `index` of the path: the root when index is 0, else the
 * child of nodes[index - 1] on the side the path took. */
static void path_link(const struct heap *heap, uint32_t *root, const struct ztree_path *path,
                      uint32_t index, uint32_t child)
{
    KV_ASSERT(index <= path->depth);
    if (index == 0) {
        *root = child;
        return;
    }
    struct ztree_node *parent = ztree_node(heap, path->nodes[index - 1]);
    if (path->went_left[index - 1]) {
        parent->left = child;
    } else {
        parent->right = child;
    }
}

/* Walks the path back to the root: each node's size from its children, then its balance,
 * its parent linked to whatever top a rotation left. Bounded by the path's depth. */
static void path_rebalance(const struct heap *heap, uint32_t *root, const struct ztree_path *path)
{
    for (uint32_t index = path->depth; index-- > 0;) {
        uint32_t ref = path->nodes[index];
        size_update(heap, ref);
        uint32_t top = balance(heap, ref);
        if (top != ref) {
            path_link(heap, root, path, index, top);
        }
    }
    KV_ASSERT(*root != HEAP_REF_NONE);
}

void ztree_insert(const struct heap *heap, uint32_t *root, uint32_t node_ref)
{
    struct ztree_node *node = ztree_node(heap, node_ref);
    KV_ASSERT(node->size == 0);
    KV_ASSERT(node->left == HEAP_REF_NONE && node->right == HEAP_REF_NONE);
    struct slice member = ztree_member(node);
    struct ztree_path path;
    path.depth = 0;
    /* Down to the empty place the node belongs: bounded by the depth (path_push). */
    for (uint32_t at = *root; at != HEAP_REF_NONE;) {
        const struct ztree_node *here = ztree_node(heap, at);
        int order = ztree_compare(node->score, member, here);
        KV_ASSERT(order != 0); /* the caller checked the member is absent */
        path_push(&path, at, order < 0);
        at = order < 0 ? here->left : here->right;
    }
    node->size = 1;
    path_link(heap, root, &path, path.depth, node_ref);
    path_rebalance(heap, root, &path);
}

/* Replaces a node of two children with its successor (the leftmost node of its right
 * subtree), extending the path down to the successor's old parent. */
static void remove_inner(const struct heap *heap, uint32_t *root, struct ztree_path *path,
                         uint32_t node_ref)
{
    struct ztree_node *node = ztree_node(heap, node_ref);
    uint32_t index = path->depth;
    path_push(path, node_ref, false);
    uint32_t at = node->right;
    /* Leftmost of the right subtree: bounded by the depth (path_push). */
    while (ztree_node(heap, at)->left != HEAP_REF_NONE) {
        path_push(path, at, true);
        at = ztree_node(heap, at)->left;
    }
    struct ztree_node *successor = ztree_node(heap, at);
    path_link(heap, root, path, path->depth, successor->right);
    successor->left = node->left;
    successor->right = node->right; /* already without the successor */
    path->nodes[index] = at;
    path_link(heap, root, path, index, at);
    KV_ASSERT(path->depth > index);
}

void ztree_remove(const struct heap *heap, uint32_t *root, uint32_t node_ref)
{
    struct ztree_node *node = ztree_node(heap, node_ref);
    KV_ASSERT(node->size > 0);
    struct slice member = ztree_member(node);
    struct ztree_path path;
    path.depth = 0;
    uint32_t at = *root;
    /* Down to the node: bounded by the depth (path_push). */
    while (at != node_ref) {
        KV_ASSERT(at != HEAP_REF_NONE); /* the node is in this tree */
        const struct ztree_node *here = ztree_node(heap, at);
        int order = ztree_compare(node->score, member, here);
        KV_ASSERT(order != 0);
        path_push(&path, at, order < 0);
        at = order < 0 ? here->left : here->right;
    }
    if (node->left == HEAP_REF_NONE || node->right == HEAP_REF_NONE) {
        uint32_t child = node->left != HEAP_REF_NONE ? node->left : node->right;
        path_link(heap, root, &path, path.depth, child);
    } else {
        remove_inner(heap, root, &path, node_ref);
    }
    node->left = HEAP_REF_NONE;
    node->right = HEAP_REF_NONE;
    node->size = 0;
    if (path.depth > 0) {
        path_rebalance(heap, root, &path);
    }
}

uint32_t ztree_rank(const struct heap *heap, uint32_t root, uint32_t node_ref)
{
    const struct ztree_node *node = ztree_node(heap, node_ref);
    KV_ASSERT(node->size > 0);
    struct slice member = ztree_member(node);
    uint32_t rank = 0;
    uint32_t at = root;
    /* Down to the node, counting what lies left of the path: bounded by the depth. */
    for (uint32_t depth = 0; at != node_ref; depth++) {
        KV_ASSERT(depth < ZTREE_DEPTH_MAX && at != HEAP_REF_NONE);
        const struct ztree_node *here = ztree_node(heap, at);
        if (ztree_compare(node->score, member, here) < 0) {
            at = here->left;
        } else {
            rank += size_of(heap, here->left) + 1;
            at = here->right;
        }
    }
    rank += size_of(heap, node->left);
    KV_ASSERT(rank < size_of(heap, root));
    return rank;
}

uint32_t ztree_select(const struct heap *heap, uint32_t root, uint32_t rank)
{
    KV_ASSERT(rank < size_of(heap, root));
    uint32_t at = root;
    /* Bounded by the depth: each step goes one level down. */
    for (uint32_t depth = 0; depth < ZTREE_DEPTH_MAX; depth++) {
        const struct ztree_node *here = ztree_node(heap, at);
        uint32_t left = size_of(heap, here->left);
        if (rank == left) {
            return at;
        }
        if (rank < left) {
            at = here->left;
        } else {
            rank -= left + 1;
            at = here->right;
        }
        KV_ASSERT(at != HEAP_REF_NONE);
    }
    KV_ASSERT(false); /* deeper than the balance allows */
    return HEAP_REF_NONE;
}

uint32_t ztree_count_below(const struct heap *heap, uint32_t root, double score, bool or_equal)
{
    KV_ASSERT(!isnan(score));
    uint32_t count = 0;
    uint32_t at = root;
    /* Bounded by the depth: each step goes one level down. */
    for (uint32_t depth = 0; at != HEAP_REF_NONE; depth++) {
        KV_ASSERT(depth < ZTREE_DEPTH_MAX);
        const struct ztree_node *here = ztree_node(heap, at);
        bool below = or_equal ? here->score <= score : here->score < score;
        if (below) {
            count += size_of(heap, here->left) + 1;
            at = here->right;
        } else {
            at = here->left;
        }
    }
    KV_ASSERT(count <= size_of(heap, root));
    return count;
}

uint32_t ztree_count_below_member(const struct heap *heap, uint32_t root, struct slice member,
                                  bool or_equal)
{
    uint32_t count = 0;
    uint32_t at = root;
    /* Bounded by the depth: each step goes one level down. */
    for (uint32_t depth = 0; at != HEAP_REF_NONE; depth++) {
        KV_ASSERT(depth < ZTREE_DEPTH_MAX);
        const struct ztree_node *here = ztree_node(heap, at);
        int order = ztree_member_compare(ztree_member(here), member);
        if (or_equal ? order <= 0 : order < 0) {
            count += size_of(heap, here->left) + 1;
            at = here->right;
        } else {
            at = here->left;
        }
    }
    KV_ASSERT(count <= size_of(heap, root));
    return count;
}

static void walk_push(struct ztree_walk *walk, uint32_t ref)
{
    KV_ASSERT(walk->depth < ZTREE_DEPTH_MAX);
    walk->stack[walk->depth++] = ref;
}

void ztree_walk_start(const struct heap *heap, uint32_t root, uint32_t rank, bool reverse,
                      struct ztree_walk *walk)
{
    KV_ASSERT(rank < size_of(heap, root));
    walk->depth = 0;
    walk->reverse = reverse;
    walk->next = HEAP_REF_NONE;
    uint32_t at = root;
    /* Down to the rank, keeping the ancestors the walk comes back to: bounded by the depth. */
    while (walk->next == HEAP_REF_NONE) {
        KV_ASSERT(at != HEAP_REF_NONE);
        const struct ztree_node *here = ztree_node(heap, at);
        uint32_t left = size_of(heap, here->left);
        if (rank < left) {
            if (!reverse) {
                walk_push(walk, at);
            }
            at = here->left;
        } else if (rank > left) {
            if (reverse) {
                walk_push(walk, at);
            }
            rank -= left + 1;
            at = here->right;
        } else {
            walk->next = at;
        }
    }
    KV_ASSERT(walk->depth < ZTREE_DEPTH_MAX);
}

uint32_t ztree_walk_next(const struct heap *heap, struct ztree_walk *walk)
{
    KV_ASSERT(walk->depth < ZTREE_DEPTH_MAX);
    uint32_t result = walk->next;
    if (result == HEAP_REF_NONE) {
        return HEAP_REF_NONE;
    }
    const struct ztree_node *node = ztree_node(heap, result);
    uint32_t at = walk->reverse ? node->left : node->right;
    if (at == HEAP_REF_NONE) {
        walk->next = walk->depth > 0 ? walk->stack[--walk->depth] : HEAP_REF_NONE;
        return result;
    }
    /* To the nearest node of the subtree on the walk's side: bounded by the depth
     * (walk_push asserts it). */
    uint32_t inner = walk->reverse ? ztree_node(heap, at)->right : ztree_node(heap, at)->left;
    while (inner != HEAP_REF_NONE) {
        walk_push(walk, at);
        at = inner;
        inner = walk->reverse ? ztree_node(heap, at)->right : ztree_node(heap, at)->left;
    }
    walk->next = at;
    KV_ASSERT(walk->next != result);
    return result;
}

/* ztree_verify's checks of one node met in order after `previous` (or NONE). */
static void verify_node(const struct heap *heap, uint32_t ref, uint32_t previous)
{
    const struct ztree_node *node = ztree_node(heap, ref);
    uint32_t left = size_of(heap, node->left);
    uint32_t right = size_of(heap, node->right);
    KV_ASSERT(!isnan(node->score));
    KV_ASSERT((uint64_t)node->size == 1ull + left + right);
    KV_ASSERT(weight_fits(left, right));
    KV_ASSERT(weight_fits(right, left));
    if (previous != HEAP_REF_NONE) {
        const struct ztree_node *before = ztree_node(heap, previous);
        KV_ASSERT(ztree_compare(before->score, ztree_member(before), node) < 0);
    }
}

uint32_t ztree_verify(const struct heap *heap, uint32_t root,
                      void (*visit)(void *context, uint32_t node_ref), void *context)
{
    uint32_t stack[ZTREE_DEPTH_MAX];
    uint32_t depth = 0;
    uint32_t count = 0;
    uint32_t previous = HEAP_REF_NONE;
    uint32_t at = root;
    uint32_t total = size_of(heap, root);
    /* In order with a stack of pending ancestors: each node is pushed and popped once, so
     * bounded by the root's size (checked as the count grows). */
    while (at != HEAP_REF_NONE || depth > 0) {
        while (at != HEAP_REF_NONE) {
            KV_ASSERT(depth < ZTREE_DEPTH_MAX); /* no path deeper than the balance allows */
            stack[depth++] = at;
            at = ztree_node(heap, at)->left;
        }
        at = stack[--depth];
        verify_node(heap, at, previous);
        count++;
        KV_ASSERT(count <= total);
        if (visit != NULL) {
            visit(context, at);
        }
        previous = at;
        at = ztree_node(heap, at)->right;
    }
    KV_ASSERT(count == total);
    return count;
}
