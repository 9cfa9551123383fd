/*
 * Client-side caching: the tracking table (keys read by tracking clients, each with its
 * chain of client links), the invalidations owed when keys change, and the keys changed
 * during an event-loop pass for the broadcasters. Invariants: every tracked key has at least
 * one link and link_count of them on its chain; every link is on its key's chain and on its
 * client's doubly linked chain, and that client tracks in normal mode (OFF, RESET and a
 * leaving client free their links at once); the tracking struct's link_count is the sum of
 * both; entry_bytes is the usable size of every key, link and changed entry held; pending
 * names lie inside pending_bytes. Memory comes only from the heap (see tracking.h for what
 * happens when it has none); nothing does I/O (the installed sender does).
 */
#include "tracking.h"

#include <stddef.h>
#include <string.h>

#include "number.h"
#include "redis_param.h"

/* A tracked key: a heap entry in the keys dict. */
struct tracking_key {
    uint32_t next;        /* the dict's chain link (dict.h: first four bytes) */
    uint32_t key_bytes;   /* name length; the bytes follow the head */
    uint32_t link_head;   /* its newest link, TRACKING_NONE: none (then it is freed) */
    uint32_t link_count;  /* links on its chain */
    uint8_t bytes[];
};

/* One (key, client) pair: the client is told when the key changes. */
struct tracking_link {
    uint32_t key_next;    /* the key's next link */
    uint32_t key_ref;     /* its key */
    uint32_t client_prev; /* the client's newer link, TRACKING_NONE at its head */
    uint32_t client_next; /* the client's older link */
    uint64_t id;          /* the client's id */
    uint32_t slot_index;  /* and its connection slot */
    uint32_t spare;
};

/* A key changed this pass, for the broadcasters: a heap entry in the changed dict. */
struct tracking_changed {
    uint32_t next;        /* the dict's chain link */
    uint32_t key_bytes;
    uint64_t modifier_id; /* the client that changed it last (NOLOOP); 0: none */
    uint8_t bytes[];
};

static_assert(offsetof(struct tracking_key, bytes) == 16, "a key entry's head is 16 bytes");
static_assert(sizeof(struct tracking_link) == 32, "a link is one 32-byte heap object");
static_assert(offsetof(struct tracking_changed, bytes) == 16, "a changed head is 16 bytes");

static struct tracking_key *key_at(const struct tracking *tracking, uint32_t ref)
{
    return heap_pointer(tracking->heap, ref);
}

static struct tracking_link *link_at(const struct tracking *tracking, uint32_t ref)
{
    return heap_pointer(tracking->heap, ref);
}

static struct slice key_name(const struct tracking_key *key)
{
    return (struct slice){.bytes = key->bytes, .length = key->key_bytes};
}

static struct slice keys_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return key_name(entry);
}

static struct slice changed_name(const struct tracking_changed *changed)
{
    return (struct slice){.bytes = changed->bytes, .length = changed->key_bytes};
}

static struct slice changed_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return changed_name(entry);
}

void tracking_init(struct tracking *tracking, struct heap *heap, uint32_t slot_count,
                   uint64_t seed)
{
    KV_ASSERT(heap != NULL);
    memset(tracking, 0, sizeof(*tracking));
    tracking->heap = heap;
    dict_init(&tracking->keys, heap, keys_dict_key, seed);
    dict_init(&tracking->changed, heap, changed_dict_key, seed ^ 0x9e3779b97f4a7c15ull);
    tracking->slot_count = slot_count;
    tracking->current_slot = TRACKING_SLOT_NONE;
    tracking->random_state = seed | 1u; /* xorshift never leaves a non-zero state */
    tracking->max_keys_param = redis_param_find("tracking-table-max-keys",
                                                sizeof("tracking-table-max-keys") - 1);
    KV_ASSERT(tracking_memory_bytes(tracking) == 0);
}

void tracking_sender_set(struct tracking *tracking, tracking_send_fn *send,
                         tracking_client_fn *client, void *context)
{
    KV_ASSERT(send != NULL && client != NULL);
    tracking->send = send;
    tracking->client = client;
    tracking->context = context;
}

/* Byte order of two names, shorter first on a tie (a radix tree's order). */
static int name_compare(struct slice left, struct slice right)
{
    uint32_t common = left.length < right.length ? left.length : right.length;
    int order = common > 0 ? memcmp(left.bytes, right.bytes, common) : 0;
    if (order != 0) {
        return order;
    }
    return left.length < right.length ? -1 : left.length > right.length ? 1 : 0;
}

/* Redis's overlap: one is a prefix of the other (equal ones too). */
static bool overlap(struct slice left, struct slice right)
{
    uint32_t common = left.length < right.length ? left.length : right.length;
    return common == 0 || memcmp(left.bytes, right.bytes, common) == 0;
}

static bool has_prefix(struct slice text, struct slice prefix)
{
    return text.length >= prefix.length &&
           (prefix.length == 0 || memcmp(text.bytes, prefix.bytes, prefix.length) == 0);
}

static struct slice client_prefix(const struct tracking_client *state, uint32_t index)
{
    KV_ASSERT(index < state->prefix_count);
    return (struct slice){.bytes = state->prefixes[index], .length = state->prefix_lengths[index]};
}

/* Adds a prefix in sorted place unless the client has it. */
static void prefix_add(struct tracking_client *state, struct slice prefix)
{
    KV_ASSERT(prefix.length <= TRACKING_PREFIX_BYTES_MAX);
    uint32_t at = 0;
    /* Both loops bounded by the client's prefixes (TRACKING_PREFIXES_MAX). */
    while (at < state->prefix_count && name_compare(client_prefix(state, at), prefix) < 0) {
        at++;
    }
    if (at < state->prefix_count && name_compare(client_prefix(state, at), prefix) == 0) {
        return;
    }
    KV_ASSERT(state->prefix_count < TRACKING_PREFIXES_MAX); /* the command checked the room */
    for (uint32_t index = state->prefix_count; index > at; index--) {
        state->prefix_lengths[index] = state->prefix_lengths[index - 1];
        memcpy(state->prefixes[index], state->prefixes[index - 1], TRACKING_PREFIX_BYTES_MAX);
    }
    state->prefix_lengths[at] = (uint8_t)prefix.length;
    if (prefix.length > 0) {
        memcpy(state->prefixes[at], prefix.bytes, prefix.length);
    }
    state->prefix_count++;
}

void tracking_enable(struct tracking *tracking, struct tracking_client *state, uint32_t flags,
                     uint64_t redirect_id, const struct slice *prefixes, uint32_t prefix_count)
{
    KV_ASSERT(!(flags & TRACKING_BCAST) || !(flags & (TRACKING_OPTIN | TRACKING_OPTOUT)));
    if (!(state->flags & TRACKING_ON)) {
        tracking->tracking_count++;
    }
    if ((flags & TRACKING_BCAST) && !(state->flags & TRACKING_BCAST)) {
        tracking->bcast_count++;
    }
    /* As Redis's enableTracking: CACHING stays, the mode flags are the new ones. */
    state->flags = TRACKING_ON | (state->flags & TRACKING_CACHING) |
                   (flags & (TRACKING_BCAST | TRACKING_OPTIN | TRACKING_OPTOUT | TRACKING_NOLOOP));
    state->redirect_id = redirect_id;
    if (flags & TRACKING_BCAST) {
        static const struct slice everything = {.bytes = (const uint8_t *)"", .length = 0};
        if (prefix_count == 0) {
            prefix_add(state, everything);
        }
        for (uint32_t index = 0; index < prefix_count; index++) {
            prefix_add(state, prefixes[index]);
        }
    }
    KV_ASSERT(tracking->bcast_count <= tracking->tracking_count);
}


/* Whether this client is still the one tracking (not gone, not switched off). */
static struct tracking_client *live_client(const struct tracking *tracking, uint32_t slot_index,
                                           uint64_t id)
{
    KV_ASSERT(id != 0);
    return tracking->client(tracking->context, slot_index, &id);
}

/* The client in a slot and its id, or NULL. */
static struct tracking_client *slot_client(const struct tracking *tracking, uint32_t slot_index,
                                           uint64_t *id)
{
    *id = 0;
    return tracking->client(tracking->context, slot_index, id);
}

/* Takes a link off its key's chain (the key keeps its other links). */
static void link_unchain_key(struct tracking *tracking, struct tracking_key *key,
                             uint32_t link_ref)
{
    KV_ASSERT(key->link_count > 0);
    uint32_t *at = &key->link_head;
    /* Bounded by the key's links. */
    for (uint32_t steps = 0; *at != link_ref; steps++) {
        KV_ASSERT(steps < key->link_count && *at != TRACKING_NONE);
        at = &link_at(tracking, *at)->key_next;
    }
    *at = link_at(tracking, link_ref)->key_next;
    key->link_count--;
}

/* Takes a link off its client's chain (O(1): the chain is doubly linked). */
static void link_unchain_client(struct tracking *tracking, struct tracking_client *state,
                                struct tracking_link *link)
{
    KV_ASSERT(state->link_count > 0);
    if (link->client_prev == TRACKING_NONE) {
        KV_ASSERT(state->link_head == heap_ref(tracking->heap, link));
        state->link_head = link->client_next;
    } else {
        link_at(tracking, link->client_prev)->client_next = link->client_next;
    }
    if (link->client_next != TRACKING_NONE) {
        link_at(tracking, link->client_next)->client_prev = link->client_prev;
    }
    state->link_count--;
}

/* Gives a key entry back once its last link went. */
static void key_drop(struct tracking *tracking, struct tracking_key *key)
{
    KV_ASSERT(key->link_count == 0 && key->link_head == TRACKING_NONE);
    uint32_t removed = dict_remove(&tracking->keys, key_name(key));
    KV_ASSERT(removed == heap_ref(tracking->heap, key));
    heap_release_counted(tracking->heap, key, &tracking->entry_bytes);
}

/* Notes an invalidation owed: to client target_id (in target_slot), of `key` (NULL:
 * everything). A full list turns into a null for every tracking client. */
static void pending_add(struct tracking *tracking, uint64_t target_id, uint32_t target_slot,
                        const struct slice *key)
{
    KV_ASSERT(target_id != 0);
    uint32_t length = key != NULL ? key->length : 0;
    if (tracking->pending_count == TRACKING_PENDING_MAX ||
        length > TRACKING_PENDING_BYTES - tracking->pending_used_bytes) {
        tracking->pending_overflow = true;
        return;
    }
    struct tracking_pending *pending = &tracking->pending[tracking->pending_count++];
    *pending = (struct tracking_pending){.modifier_id = tracking->current_id,
                                         .target_id = target_id,
                                         .target_slot = target_slot,
                                         .offset = tracking->pending_used_bytes,
                                         .length = length,
                                         .null = key == NULL};
    if (length > 0) {
        memcpy(tracking->pending_bytes + pending->offset, key->bytes, length);
    }
    tracking->pending_used_bytes += length;
    KV_ASSERT(tracking->pending_used_bytes <= TRACKING_PENDING_BYTES);
    KV_ASSERT(tracking->pending_count <= TRACKING_PENDING_MAX);
}

/* Owes a key's clients its invalidation (not the changer with NOLOOP) and forgets the key
 * and its links: Redis's trackingInvalidateKey. */
static void key_invalidate(struct tracking *tracking, struct tracking_key *key)
{
    struct slice name = key_name(key);
    uint32_t link_ref = key->link_head;
    /* Bounded by the key's links: each step frees one. */
    for (uint32_t steps = 0; link_ref != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < key->link_count);
        struct tracking_link *link = link_at(tracking, link_ref);
        link_ref = link->key_next;
        struct tracking_client *state = live_client(tracking, link->slot_index, link->id);
        KV_ASSERT(state != NULL); /* a client's links go with it */
        KV_ASSERT((state->flags & TRACKING_ON) && !(state->flags & TRACKING_BCAST));
        if (link->id != tracking->current_id || !(state->flags & TRACKING_NOLOOP)) {
            pending_add(tracking, link->id, link->slot_index, &name);
        }
        link_unchain_client(tracking, state, link);
        heap_release_counted(tracking->heap, link, &tracking->entry_bytes);
        KV_ASSERT(tracking->link_count > 0);
        tracking->link_count--;
    }
    key->link_head = TRACKING_NONE;
    key->link_count = 0;
    key_drop(tracking, key);
}

void tracking_disable(struct tracking *tracking, struct tracking_client *state)
{
    if (state->flags & TRACKING_ON) {
        KV_ASSERT(tracking->tracking_count > 0);
        tracking->tracking_count--;
        if (state->flags & TRACKING_BCAST) {
            KV_ASSERT(tracking->bcast_count > 0);
            tracking->bcast_count--;
        }
    }
    /* Its links go, and the keys only it tracked. Bounded by its links: each step frees one. */
    while (state->link_head != TRACKING_NONE) {
        struct tracking_link *link = link_at(tracking, state->link_head);
        struct tracking_key *key = key_at(tracking, link->key_ref);
        link_unchain_key(tracking, key, state->link_head);
        link_unchain_client(tracking, state, link);
        heap_release_counted(tracking->heap, link, &tracking->entry_bytes);
        KV_ASSERT(tracking->link_count > 0);
        tracking->link_count--;
        if (key->link_count == 0) {
            key_drop(tracking, key);
        }
    }
    KV_ASSERT(state->link_count == 0);
    dict_settle(&tracking->keys);
    memset(state, 0, sizeof(*state));
    KV_ASSERT(tracking->bcast_count <= tracking->tracking_count);
}

bool tracking_prefix_collides(const struct tracking_client *state, const struct slice *prefixes,
                              uint32_t prefix_count, uint32_t *index, struct slice *overlapped,
                              bool *among_new)
{
    /* As Redis's checkPrefixCollisionsOrReply: each new prefix against the client's (in
     * their sorted order) and against the new ones after it. Bounded by the counts. */
    for (uint32_t at = 0; at < prefix_count; at++) {
        for (uint32_t old = 0; old < state->prefix_count; old++) {
            struct slice other = client_prefix(state, old);
            if (overlap(other, prefixes[at])) {
                *index = at;
                *overlapped = other;
                *among_new = false;
                return true;
            }
        }
        for (uint32_t later = at + 1; later < prefix_count; later++) {
            if (overlap(prefixes[later], prefixes[at])) {
                *index = at;
                *overlapped = prefixes[later];
                *among_new = true;
                return true;
            }
        }
    }
    return false;
}

/* tracking-table-max-keys as CONFIG SET left it (0: no limit but the budget). */
static uint64_t limit_configured(const struct tracking *tracking)
{
    if (tracking->max_keys_param < 0) {
        return 0; /* a table without the row (tests): no limit */
    }
    const char *text = redis_param_value((uint32_t)tracking->max_keys_param);
    int64_t value = 0;
    bool ok = number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value);
    KV_ASSERT(ok && value >= 0); /* the row's canonical form: a non-negative integer */
    return (uint64_t)value;
}

/* A random tracked key (xorshift64 through dict_random). */
static struct tracking_key *random_key(struct tracking *tracking)
{
    KV_ASSERT(dict_count(&tracking->keys) > 0);
    uint32_t ref = dict_random(&tracking->keys, &tracking->random_state);
    KV_ASSERT(ref != TRACKING_NONE);
    return key_at(tracking, ref);
}

void tracking_limit(struct tracking *tracking, uint32_t slot_index, uint64_t id)
{
    KV_ASSERT(id != 0);
    KV_ASSERT(tracking->current_id == 0); /* between commands */
    if (dict_count(&tracking->keys) == 0) {
        tracking->limit_effort_runs = 0;
        return;
    }
    uint64_t max_keys = limit_configured(tracking);
    if (max_keys == 0 || dict_count(&tracking->keys) <= max_keys) {
        tracking->limit_effort_runs = 0;
        return;
    }
    /* As Redis's trackingLimitUsedSlots: an effort that grows with each command that found
     * the table still over the limit; the command's client is the current one (NOLOOP). */
    uint64_t effort = 100u * ((uint64_t)tracking->limit_effort_runs + 1u);
    tracking_command_begin(tracking, slot_index, id);
    /* Bounded by the effort (and the keys: each pass removes one). */
    for (uint64_t pass = 0; pass < effort && dict_count(&tracking->keys) > max_keys; pass++) {
        key_invalidate(tracking, random_key(tracking));
        if (tracking->pending_count >= TRACKING_PENDING_MAX / 2u) {
            tracking_deliver(tracking); /* in pieces: the list never overflows for this */
        }
    }
    tracking_command_end(tracking);
    dict_settle(&tracking->keys);
    /* Sent now, before the command runs, as Redis sends them. */
    tracking_deliver(tracking);
    if (dict_count(&tracking->keys) <= max_keys) {
        tracking->limit_effort_runs = 0;
    } else if (tracking->limit_effort_runs < UINT32_MAX / 200u) {
        tracking->limit_effort_runs++;
    }
}

void tracking_command_begin(struct tracking *tracking, uint32_t slot_index, uint64_t id)
{
    KV_ASSERT(id != 0);
    tracking->current_id = id;
    tracking->current_slot = slot_index;
}

void tracking_command_end(struct tracking *tracking)
{
    tracking->current_id = 0;
    tracking->current_slot = TRACKING_SLOT_NONE;
}

/* The client's link to a key, or TRACKING_NONE. */
static uint32_t link_find(const struct tracking *tracking, const struct tracking_key *key,
                          uint64_t id)
{
    uint32_t link_ref = key->link_head;
    /* Bounded by the key's links. */
    for (uint32_t steps = 0; link_ref != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < key->link_count);
        const struct tracking_link *link = link_at(tracking, link_ref);
        if (link->id == id) {
            return link_ref;
        }
        link_ref = link->key_next;
    }
    return TRACKING_NONE;
}

void tracking_remember(struct tracking *tracking, const struct tracking_client *state,
                       uint32_t slot_index, uint64_t id, struct slice key)
{
    KV_ASSERT(state->flags & TRACKING_ON);
    KV_ASSERT(!(state->flags & TRACKING_BCAST));
    bool caching = (state->flags & TRACKING_CACHING) != 0;
    if (((state->flags & TRACKING_OPTIN) && !caching) ||
        ((state->flags & TRACKING_OPTOUT) && caching)) {
        return;
    }
    uint32_t key_ref = dict_find(&tracking->keys, key, NULL);
    if (key_ref != TRACKING_NONE && link_find(tracking, key_at(tracking, key_ref), id) !=
                                        TRACKING_NONE) {
        return;
    }
    struct tracking_client *owner = live_client(tracking, slot_index, id);
    KV_ASSERT(owner == state);
    /* Take both entries before changing anything. No room: the reader is told at once (after
     * its reply) to drop what it read, so its cache never outlives a change kv could not
     * promise to tell it about. */
    struct tracking_key *fresh = NULL;
    /* Like data, the table never takes the client reserve (replies need it more). */
    enum heap_reserve reserve_before = heap_reserve_set(tracking->heap, HEAP_RESERVE_CLOSED);
    if (key_ref == TRACKING_NONE) {
        uint64_t bytes = offsetof(struct tracking_key, bytes) + (uint64_t)key.length;
        fresh = heap_alloc_counted(tracking->heap, bytes, &tracking->entry_bytes);
    }
    struct tracking_link *link = NULL;
    if (key_ref != TRACKING_NONE || fresh != NULL) {
        link = heap_alloc_counted(tracking->heap, sizeof(*link), &tracking->entry_bytes);
    }
    if (link == NULL) {
        if (fresh != NULL) {
            heap_release_counted(tracking->heap, fresh, &tracking->entry_bytes);
        }
        (void)heap_reserve_set(tracking->heap, reserve_before);
        pending_add(tracking, id, slot_index, &key);
        return;
    }
    if (fresh != NULL) {
        *fresh = (struct tracking_key){.key_bytes = key.length, .link_head = TRACKING_NONE};
        if (key.length > 0) {
            memcpy(fresh->bytes, key.bytes, key.length);
        }
        key_ref = heap_ref(tracking->heap, fresh);
        dict_insert(&tracking->keys, key_ref); /* its buckets closed to the reserve too */
    }
    (void)heap_reserve_set(tracking->heap, reserve_before);
    struct tracking_key *entry = key_at(tracking, key_ref);
    uint32_t link_ref = heap_ref(tracking->heap, link);
    *link = (struct tracking_link){.key_next = entry->link_head,
                                   .key_ref = key_ref,
                                   .client_prev = TRACKING_NONE,
                                   .client_next = owner->link_head,
                                   .id = id,
                                   .slot_index = slot_index};
    if (owner->link_head != TRACKING_NONE) {
        link_at(tracking, owner->link_head)->client_prev = link_ref;
    }
    owner->link_head = link_ref;
    owner->link_count++;
    entry->link_head = link_ref;
    entry->link_count++;
    tracking->link_count++;
    KV_ASSERT(entry->link_count > 0 && owner->link_count > 0);
}

/* Notes a key changed this pass for the broadcasters, with its latest changer. No room: the
 * broadcasters get a null when the pass ends. */
static void changed_add(struct tracking *tracking, struct slice key)
{
    uint32_t ref = dict_find(&tracking->changed, key, NULL);
    if (ref != TRACKING_NONE) {
        struct tracking_changed *changed = heap_pointer(tracking->heap, ref);
        changed->modifier_id = tracking->current_id; /* the last changer, as Redis keeps it */
        return;
    }
    if (tracking->changed_overflow) {
        return; /* everything will be dropped anyway */
    }
    uint64_t bytes = offsetof(struct tracking_changed, bytes) + (uint64_t)key.length;
    enum heap_reserve reserve_before = heap_reserve_set(tracking->heap, HEAP_RESERVE_CLOSED);
    struct tracking_changed *changed =
        heap_alloc_counted(tracking->heap, bytes, &tracking->entry_bytes);
    if (changed == NULL) {
        (void)heap_reserve_set(tracking->heap, reserve_before);
        tracking->changed_overflow = true;
        return;
    }
    *changed = (struct tracking_changed){.key_bytes = key.length,
                                         .modifier_id = tracking->current_id};
    if (key.length > 0) {
        memcpy(changed->bytes, key.bytes, key.length);
    }
    dict_insert(&tracking->changed, heap_ref(tracking->heap, changed));
    (void)heap_reserve_set(tracking->heap, reserve_before);
    KV_ASSERT(dict_count(&tracking->changed) > 0);
}

void tracking_touched(struct tracking *tracking, struct slice key)
{
    if (tracking->muted || tracking->tracking_count == 0) {
        return;
    }
    if (tracking->bcast_count > 0) {
        changed_add(tracking, key); /* matched to prefixes when the pass ends */
    }
    if (dict_count(&tracking->keys) == 0) {
        return;
    }
    uint32_t key_ref = dict_find(&tracking->keys, key, NULL);
    if (key_ref != TRACKING_NONE) {
        key_invalidate(tracking, key_at(tracking, key_ref));
    }
}

static struct slice pending_key(const struct tracking *tracking, uint32_t index)
{
    const struct tracking_pending *pending = &tracking->pending[index];
    KV_ASSERT(pending->offset + pending->length <= tracking->pending_used_bytes);
    return (struct slice){.bytes = tracking->pending_bytes + pending->offset,
                          .length = pending->length};
}

void tracking_deliver(struct tracking *tracking)
{
    if (tracking->pending_count == 0 && !tracking->pending_overflow) {
        return;
    }
    uint64_t id = 0;
    if (tracking->pending_overflow) {
        /* Bounded by the connection slots: every tracking client drops everything. */
        for (uint32_t slot = 0; slot < tracking->slot_count; slot++) {
            const struct tracking_client *state = slot_client(tracking, slot, &id);
            if (state != NULL && (state->flags & TRACKING_ON)) {
                tracking->send(tracking->context, slot, id, NULL, 0);
            }
        }
    } else {
        /* In the order they came. Bounded by the list. */
        for (uint32_t index = 0; index < tracking->pending_count; index++) {
            const struct tracking_pending *pending = &tracking->pending[index];
            if (live_client(tracking, pending->target_slot, pending->target_id) != NULL) {
                struct slice key = pending_key(tracking, index);
                tracking->send(tracking->context, pending->target_slot, pending->target_id,
                               pending->null ? NULL : &key, pending->null ? 0 : 1);
            }
        }
    }
    tracking->pending_count = 0;
    tracking->pending_used_bytes = 0;
    tracking->pending_overflow = false;
    KV_ASSERT(tracking->pending_count == 0);
}

static struct slice changed_at(const struct tracking *tracking, uint32_t ref)
{
    return changed_name(heap_pointer(tracking->heap, ref));
}

/* Moves refs[root] down the max-heap of the first `count` refs (by name). */
static void sift_down(const struct tracking *tracking, uint32_t *refs, uint32_t root,
                      uint32_t count)
{
    KV_ASSERT(root < count);
    /* Bounded by the heap's depth: the index at least doubles each step. */
    for (;;) {
        uint32_t largest = root;
        uint32_t left = 2u * root + 1u;
        uint32_t right = left + 1u;
        if (left < count &&
            name_compare(changed_at(tracking, refs[left]), changed_at(tracking, refs[largest])) >
                0) {
            largest = left;
        }
        if (right < count &&
            name_compare(changed_at(tracking, refs[right]), changed_at(tracking, refs[largest])) >
                0) {
            largest = right;
        }
        if (largest == root) {
            return;
        }
        uint32_t swap = refs[root];
        refs[root] = refs[largest];
        refs[largest] = swap;
        root = largest;
    }
}

/* Sorts changed-key refs by name: heapsort (no recursion, no scratch). */
static void changed_sort(const struct tracking *tracking, uint32_t *refs, uint32_t count)
{
    /* Both loops bounded by the count. */
    for (uint32_t root = count / 2u; root > 0; root--) {
        sift_down(tracking, refs, root - 1u, count);
    }
    for (uint32_t end = count; end > 1; end--) {
        uint32_t swap = refs[0];
        refs[0] = refs[end - 1u];
        refs[end - 1u] = swap;
        sift_down(tracking, refs, 0, end - 1u);
    }
}

/* The first sorted changed key not below `prefix` (binary search). */
static uint32_t changed_lower_bound(const struct tracking *tracking, const uint32_t *refs,
                                    uint32_t count, struct slice prefix)
{
    uint32_t low = 0;
    uint32_t high = count;
    /* Bounded: the range halves each step. */
    while (low < high) {
        uint32_t middle = low + (high - low) / 2u;
        if (name_compare(changed_at(tracking, refs[middle]), prefix) < 0) {
            low = middle + 1u;
        } else {
            high = middle;
        }
    }
    KV_ASSERT(low <= count);
    return low;
}

/* One broadcasting client's messages: per prefix (in order), the changed keys under it, not
 * those it changed last with NOLOOP. Keys under a prefix are one run of the sorted refs. */
static void broadcast_client(struct tracking *tracking, uint32_t slot_index, uint64_t id,
                             const struct tracking_client *state, const uint32_t *refs,
                             uint32_t count, struct slice *keys)
{
    /* Bounded by TRACKING_PREFIXES_MAX times the changed keys. */
    for (uint32_t prefix_index = 0; prefix_index < state->prefix_count; prefix_index++) {
        struct slice prefix = client_prefix(state, prefix_index);
        uint32_t key_count = 0;
        for (uint32_t at = changed_lower_bound(tracking, refs, count, prefix); at < count; at++) {
            const struct tracking_changed *changed = heap_pointer(tracking->heap, refs[at]);
            struct slice name = changed_name(changed);
            if (!has_prefix(name, prefix)) {
                break;
            }
            if ((state->flags & TRACKING_NOLOOP) && changed->modifier_id == id) {
                continue;
            }
            keys[key_count++] = name;
        }
        KV_ASSERT(key_count <= count);
        if (key_count > 0) {
            tracking->send(tracking->context, slot_index, id, keys, key_count);
        }
    }
}

static void changed_release(void *context, uint32_t ref)
{
    struct tracking *tracking = context;
    heap_release_counted(tracking->heap, heap_pointer(tracking->heap, ref),
                         &tracking->entry_bytes);
}

void tracking_broadcast(struct tracking *tracking)
{
    tracking_deliver(tracking);
    uint64_t count = dict_count(&tracking->changed);
    if (count == 0 && !tracking->changed_overflow) {
        return;
    }
    /* The sort's scratch, given back before this returns. */
    uint32_t *refs = NULL;
    struct slice *keys = NULL;
    if (tracking->bcast_count > 0 && !tracking->changed_overflow && count <= UINT32_MAX) {
        refs = heap_alloc_reserve(tracking->heap, count * sizeof(uint32_t));
        keys = heap_alloc_reserve(tracking->heap, count * sizeof(struct slice));
    }
    bool everything = refs == NULL || keys == NULL;
    if (!everything) {
        struct dict_walk walk;
        uint32_t ref = TRACKING_NONE;
        uint32_t filled = 0;
        dict_walk_start(&tracking->changed, &walk);
        /* Bounded by the changed keys. */
        while (dict_walk_next(&tracking->changed, &walk, &ref)) {
            KV_ASSERT(filled < count);
            refs[filled++] = ref;
        }
        KV_ASSERT(filled == count);
        changed_sort(tracking, refs, filled);
    }
    uint64_t id = 0;
    /* Bounded by the connection slots. */
    for (uint32_t slot = 0; slot < tracking->slot_count && tracking->bcast_count > 0; slot++) {
        const struct tracking_client *state = slot_client(tracking, slot, &id);
        if (state == NULL || !(state->flags & TRACKING_BCAST)) {
            continue;
        }
        KV_ASSERT(id != 0);
        if (everything) {
            tracking->send(tracking->context, slot, id, NULL, 0); /* no room: drop it all */
        } else {
            broadcast_client(tracking, slot, id, state, refs, (uint32_t)count, keys);
        }
    }
    if (refs != NULL) {
        heap_release(tracking->heap, refs);
    }
    if (keys != NULL) {
        heap_release(tracking->heap, keys);
    }
    dict_clear(&tracking->changed, changed_release, tracking);
    tracking->changed_overflow = false;
    KV_ASSERT(dict_count(&tracking->changed) == 0);
}

void tracking_flush_begin(struct tracking *tracking)
{
    KV_ASSERT(!tracking->muted);
    tracking->muted = true;
}

/* dict_clear's release for a flushed key: its links, then itself (the clients' chains are
 * emptied after). */
static void key_release(void *context, uint32_t ref)
{
    struct tracking *tracking = context;
    struct tracking_key *key = key_at(tracking, ref);
    uint32_t link_ref = key->link_head;
    /* Bounded by the key's links. */
    for (uint32_t steps = 0; link_ref != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < key->link_count);
        struct tracking_link *link = link_at(tracking, link_ref);
        link_ref = link->key_next;
        heap_release_counted(tracking->heap, link, &tracking->entry_bytes);
        tracking->link_count--;
    }
    heap_release_counted(tracking->heap, key, &tracking->entry_bytes);
}

void tracking_flush_end(struct tracking *tracking)
{
    KV_ASSERT(tracking->muted);
    tracking->muted = false;
    uint64_t id = 0;
    if (tracking->tracking_count > 0) {
        /* Bounded by the connection slots: every tracking client owes a null (NOLOOP and
         * BCAST too, as Redis's trackingInvalidateKeysOnFlush). */
        for (uint32_t slot = 0; slot < tracking->slot_count; slot++) {
            const struct tracking_client *state = slot_client(tracking, slot, &id);
            if (state != NULL && (state->flags & TRACKING_ON)) {
                pending_add(tracking, id, slot, NULL);
            }
        }
    }
    /* The table empties, and every client's chain with it. */
    if (dict_count(&tracking->keys) > 0) {
        dict_clear(&tracking->keys, key_release, tracking);
        /* Bounded by the connection slots. */
        for (uint32_t slot = 0; slot < tracking->slot_count; slot++) {
            struct tracking_client *state = slot_client(tracking, slot, &id);
            if (state != NULL) {
                state->link_head = TRACKING_NONE;
                state->link_count = 0;
            }
        }
    }
    dict_settle(&tracking->keys);
    KV_ASSERT(dict_count(&tracking->keys) == 0 && tracking->link_count == 0);
}

uint64_t tracking_memory_bytes(const struct tracking *tracking)
{
    /* No key and nothing changed: no entry. */
    KV_ASSERT(dict_count(&tracking->keys) + dict_count(&tracking->changed) > 0 ||
              tracking->entry_bytes == 0);
    return tracking->entry_bytes + dict_bucket_bytes(&tracking->keys) +
           dict_bucket_bytes(&tracking->changed);
}

uint64_t tracking_prefix_count(const struct tracking *tracking)
{
    /* Redis's PrefixTable size: distinct prefixes over the broadcasting clients. A prefix
     * counts at the first client (in slot order) that has it. Bounded by the slots times
     * TRACKING_PREFIXES_MAX, each against the earlier slots: INFO only. */
    uint64_t distinct = 0;
    uint64_t id = 0;
    for (uint32_t slot = 0; slot < tracking->slot_count && tracking->bcast_count > 0; slot++) {
        const struct tracking_client *state = slot_client(tracking, slot, &id);
        if (state == NULL || !(state->flags & TRACKING_BCAST)) {
            continue;
        }
        for (uint32_t index = 0; index < state->prefix_count; index++) {
            struct slice prefix = client_prefix(state, index);
            bool seen = false;
            for (uint32_t earlier = 0; earlier < slot && !seen; earlier++) {
                const struct tracking_client *other = slot_client(tracking, earlier, &id);
                if (other == NULL || !(other->flags & TRACKING_BCAST)) {
                    continue;
                }
                for (uint32_t at = 0; at < other->prefix_count && !seen; at++) {
                    seen = name_compare(client_prefix(other, at), prefix) == 0;
                }
            }
            distinct += seen ? 0u : 1u;
        }
    }
    return distinct;
}

/* One client's chain: prev and next agree, each link is its own and on its key's chain. */
static uint64_t verify_client(const struct tracking *tracking, uint32_t slot, uint64_t id,
                              const struct tracking_client *state)
{
    uint32_t previous = TRACKING_NONE;
    uint32_t link_ref = state->link_head;
    uint64_t count = 0;
    /* Bounded by the client's link count. */
    for (; link_ref != TRACKING_NONE; count++) {
        KV_ASSERT(count < state->link_count);
        const struct tracking_link *link = link_at(tracking, link_ref);
        KV_ASSERT(link->client_prev == previous);
        KV_ASSERT(link->slot_index == slot && link->id == id);
        const struct tracking_key *key = key_at(tracking, link->key_ref);
        KV_ASSERT(link_find(tracking, key, id) == link_ref);
        previous = link_ref;
        link_ref = link->client_next;
    }
    KV_ASSERT(count == state->link_count);
    KV_ASSERT(count == 0 || ((state->flags & TRACKING_ON) && !(state->flags & TRACKING_BCAST)));
    return count;
}

void tracking_verify(const struct tracking *tracking)
{
    dict_verify(&tracking->keys);
    dict_verify(&tracking->changed);
    uint64_t bytes = 0;
    uint64_t links = 0;
    struct dict_walk walk;
    uint32_t ref = TRACKING_NONE;
    dict_walk_start(&tracking->keys, &walk);
    /* Bounded by the keys, each by its links. */
    while (dict_walk_next(&tracking->keys, &walk, &ref)) {
        const struct tracking_key *key = key_at(tracking, ref);
        KV_ASSERT(key->link_count > 0);
        uint32_t link_ref = key->link_head;
        uint32_t count = 0;
        for (; link_ref != TRACKING_NONE; count++) {
            KV_ASSERT(count < key->link_count);
            const struct tracking_link *link = link_at(tracking, link_ref);
            KV_ASSERT(link->key_ref == ref);
            bytes += heap_usable_bytes(tracking->heap, link);
            link_ref = link->key_next;
        }
        KV_ASSERT(count == key->link_count);
        links += count;
        bytes += heap_usable_bytes(tracking->heap, key);
    }
    KV_ASSERT(links == tracking->link_count);
    dict_walk_start(&tracking->changed, &walk);
    /* Bounded by the changed keys. */
    while (dict_walk_next(&tracking->changed, &walk, &ref)) {
        bytes += heap_usable_bytes(tracking->heap, heap_pointer(tracking->heap, ref));
    }
    KV_ASSERT(bytes == tracking->entry_bytes);
    uint64_t chained = 0;
    uint64_t id = 0;
    /* Bounded by the connection slots. */
    for (uint32_t slot = 0; slot < tracking->slot_count; slot++) {
        const struct tracking_client *state = slot_client(tracking, slot, &id);
        if (state != NULL) {
            chained += verify_client(tracking, slot, id, state);
        }
    }
    KV_ASSERT(chained == tracking->link_count);
}
