/*
 * The sorted-set treap. Invariants: in-order walk is strictly increasing by (score, member);
 * a parent's priority is at least its children's; each node's size is 1 plus its children's;
 * parent links mirror child links; the root's parent is ZSET_NONE and its size is the set's
 * count. Walks down are bounded by the tree's height, walks up by the same.
 */
#include "zset.h"

#include <string.h>

void zset_init(struct zset *set)
{
    set->root = ZSET_NONE;
    set->count = 0;
}

static uint32_t size_of(const struct zset_tree *tree, uint32_t node_index)
{
    return node_index == ZSET_NONE ? 0 : zset_node(tree, node_index)->size;
}

static void size_update(const struct zset_tree *tree, uint32_t node_index)
{
    struct zset_node *node = zset_node(tree, node_index);
    node->size = 1 + size_of(tree, node->left) + size_of(tree, node->right);
}

static int member_compare(struct slice a, struct slice b)
{
    uint32_t common = a.length < b.length ? a.length : b.length;
    int order = common > 0 ? memcmp(a.bytes, b.bytes, common) : 0;
    if (order != 0) {
        return order;
    }
    return a.length < b.length ? -1 : (a.length > b.length ? 1 : 0);
}

int zset_compare(const struct zset_tree *tree, double score, struct slice member,
                 uint32_t node_index)
{
    const struct zset_node *node = zset_node(tree, node_index);
    if (score < node->score) {
        return -1;
    }
    if (score > node->score) {
        return 1;
    }
    return member_compare(member, tree->member(tree->member_context, node->field_index));
}

/* Points whatever pointed at `from` (its parent's child link, or the root) at `to`. */
static void replace_child(const struct zset_tree *tree, struct zset *set, uint32_t parent,
                          uint32_t from, uint32_t to)
{
    if (parent == ZSET_NONE) {
        set->root = to;
    } else if (zset_node(tree, parent)->left == from) {
        zset_node(tree, parent)->left = to;
    } else {
        KV_ASSERT(zset_node(tree, parent)->right == from);
        zset_node(tree, parent)->right = to;
    }
    if (to != ZSET_NONE) {
        zset_node(tree, to)->parent = parent;
    }
}

/* Rotates `child` above its parent, keeping the order; sizes of both are recomputed. */
static void rotate_up(const struct zset_tree *tree, struct zset *set, uint32_t child)
{
    struct zset_node *node = zset_node(tree, child);
    uint32_t parent = node->parent;
    KV_ASSERT(parent != ZSET_NONE);
    struct zset_node *above = zset_node(tree, parent);
    uint32_t grandparent = above->parent;
    if (above->left == child) {
        above->left = node->right;
        if (node->right != ZSET_NONE) {
            zset_node(tree, node->right)->parent = parent;
        }
        node->right = parent;
    } else {
        KV_ASSERT(above->right == child);
        above->right = node->left;
        if (node->left != ZSET_NONE) {
            zset_node(tree, node->left)->parent = parent;
        }
        node->left = parent;
    }
    above->parent = child;
    replace_child(tree, set, grandparent, parent, child);
    size_update(tree, parent);
    size_update(tree, child);
}

static uint32_t priority_next(struct zset_tree *tree)
{
    tree->random_state ^= tree->random_state >> 12;
    tree->random_state ^= tree->random_state << 25;
    tree->random_state ^= tree->random_state >> 27;
    return (uint32_t)((tree->random_state * 0x2545F4914F6CDD1Dull) >> 32);
}

void zset_insert(struct zset_tree *tree, struct zset *set, uint32_t node_index)
{
    struct zset_node *node = zset_node(tree, node_index);
    node->left = ZSET_NONE;
    node->right = ZSET_NONE;
    node->size = 1;
    node->priority = priority_next(tree);
    struct slice member = tree->member(tree->member_context, node->field_index);
    uint32_t parent = ZSET_NONE;
    uint32_t at = set->root;
    bool left = false;
    /* Down to a leaf position, counting the new node in every subtree it enters. */
    while (at != ZSET_NONE) {
        int order = zset_compare(tree, node->score, member, at);
        KV_ASSERT(order != 0);
        zset_node(tree, at)->size++;
        parent = at;
        left = order < 0;
        at = left ? zset_node(tree, at)->left : zset_node(tree, at)->right;
    }
    node->parent = parent;
    if (parent == ZSET_NONE) {
        set->root = node_index;
    } else if (left) {
        zset_node(tree, parent)->left = node_index;
    } else {
        zset_node(tree, parent)->right = node_index;
    }
    /* Up while the heap order is broken: bounded by the depth. */
    while (node->parent != ZSET_NONE && zset_node(tree, node->parent)->priority < node->priority) {
        rotate_up(tree, set, node_index);
    }
    set->count++;
}

void zset_remove(struct zset_tree *tree, struct zset *set, uint32_t node_index)
{
    struct zset_node *node = zset_node(tree, node_index);
    /* Down until it has at most one child, rotating the higher-priority child above it:
     * bounded by the depth. */
    while (node->left != ZSET_NONE && node->right != ZSET_NONE) {
        uint32_t left = node->left;
        uint32_t right = node->right;
        uint32_t child = zset_node(tree, left)->priority > zset_node(tree, right)->priority
                             ? left
                             : right;
        rotate_up(tree, set, child);
    }
    uint32_t child = node->left != ZSET_NONE ? node->left : node->right;
    uint32_t parent = node->parent;
    replace_child(tree, set, parent, node_index, child);
    /* Every ancestor loses one node. */
    for (uint32_t at = parent; at != ZSET_NONE; at = zset_node(tree, at)->parent) {
        zset_node(tree, at)->size--;
    }
    KV_ASSERT(set->count > 0);
    set->count--;
}

uint32_t zset_rank(const struct zset_tree *tree, uint32_t node_index)
{
    const struct zset_node *node = zset_node(tree, node_index);
    uint32_t rank = size_of(tree, node->left);
    uint32_t at = node_index;
    while (zset_node(tree, at)->parent != ZSET_NONE) {
        uint32_t parent = zset_node(tree, at)->parent;
        if (zset_node(tree, parent)->right == at) {
            rank += size_of(tree, zset_node(tree, parent)->left) + 1;
        }
        at = parent;
    }
    return rank;
}

uint32_t zset_select(const struct zset_tree *tree, const struct zset *set, uint32_t rank)
{
    KV_ASSERT(rank < set->count);
    uint32_t at = set->root;
    for (;;) {
        const struct zset_node *node = zset_node(tree, at);
        uint32_t left = size_of(tree, node->left);
        if (rank < left) {
            at = node->left;
        } else if (rank == left) {
            return at;
        } else {
            rank -= left + 1;
            at = node->right;
        }
        KV_ASSERT(at != ZSET_NONE);
    }
}

uint32_t zset_next(const struct zset_tree *tree, uint32_t node_index)
{
    const struct zset_node *node = zset_node(tree, node_index);
    if (node->right != ZSET_NONE) {
        uint32_t at = node->right;
        while (zset_node(tree, at)->left != ZSET_NONE) {
            at = zset_node(tree, at)->left;
        }
        return at;
    }
    uint32_t at = node_index;
    uint32_t parent = node->parent;
    while (parent != ZSET_NONE && zset_node(tree, parent)->right == at) {
        at = parent;
        parent = zset_node(tree, parent)->parent;
    }
    return parent;
}

uint32_t zset_prev(const struct zset_tree *tree, uint32_t node_index)
{
    const struct zset_node *node = zset_node(tree, node_index);
    if (node->left != ZSET_NONE) {
        uint32_t at = node->left;
        while (zset_node(tree, at)->right != ZSET_NONE) {
            at = zset_node(tree, at)->right;
        }
        return at;
    }
    uint32_t at = node_index;
    uint32_t parent = node->parent;
    while (parent != ZSET_NONE && zset_node(tree, parent)->left == at) {
        at = parent;
        parent = zset_node(tree, parent)->parent;
    }
    return parent;
}

uint32_t zset_count_below(const struct zset_tree *tree, const struct zset *set, double score,
                          bool or_equal)
{
    uint32_t count = 0;
    uint32_t at = set->root;
    while (at != ZSET_NONE) {
        const struct zset_node *node = zset_node(tree, at);
        bool below = or_equal ? node->score <= score : node->score < score;
        if (below) {
            count += size_of(tree, node->left) + 1;
            at = node->right;
        } else {
            at = node->left;
        }
    }
    return count;
}

/* Checks a subtree; returns its size. Recursion depth is the tree's height (O(log n)
 * expected; verify runs in tests and debug builds only). */
static uint32_t verify_subtree(const struct zset_tree *tree, uint32_t at, uint32_t parent)
{
    if (at == ZSET_NONE) {
        return 0;
    }
    const struct zset_node *node = zset_node(tree, at);
    KV_ASSERT(pool_is_used(tree->nodes, at));
    KV_ASSERT(node->parent == parent);
    if (parent != ZSET_NONE) {
        KV_ASSERT(zset_node(tree, parent)->priority >= node->priority);
    }
    struct slice member = tree->member(tree->member_context, node->field_index);
    if (node->left != ZSET_NONE) {
        KV_ASSERT(zset_compare(tree, node->score, member, node->left) > 0);
    }
    if (node->right != ZSET_NONE) {
        KV_ASSERT(zset_compare(tree, node->score, member, node->right) < 0);
    }
    uint32_t size = 1 + verify_subtree(tree, node->left, at) + verify_subtree(tree, node->right, at);
    KV_ASSERT(node->size == size);
    return size;
}

void zset_verify(const struct zset_tree *tree, const struct zset *set)
{
    KV_ASSERT(verify_subtree(tree, set->root, ZSET_NONE) == set->count);
    if (set->count == 0) {
        KV_ASSERT(set->root == ZSET_NONE);
        return;
    }
    /* The in-order walk is strictly increasing and visits count nodes, ranks 0, 1, ... */
    uint32_t at = zset_select(tree, set, 0);
    KV_ASSERT(zset_prev(tree, at) == ZSET_NONE);
    for (uint32_t rank = 0; rank < set->count; rank++) {
        KV_ASSERT(at != ZSET_NONE && zset_rank(tree, at) == rank);
        uint32_t next = zset_next(tree, at);
        if (next != ZSET_NONE) {
            const struct zset_node *node = zset_node(tree, at);
            struct slice member = tree->member(tree->member_context, node->field_index);
            KV_ASSERT(zset_compare(tree, node->score, member, next) < 0);
            KV_ASSERT(zset_prev(tree, next) == at);
        }
        at = next;
    }
    KV_ASSERT(at == ZSET_NONE);
}
