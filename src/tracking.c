/*
 * Client-side caching: the tracking table (keys read by tracking clients, each with its
 * chain of client links) and the invalidations owed when keys change. Invariants:
 * key_count keys are reachable from the buckets, each in the bucket of its hash; key slots
 * not used are on the key free stack, links not in a chain on the link free stack
 * (key_count + free keys == TRACKING_KEYS_MAX, link_count + free links ==
 * TRACKING_LINKS_MAX); pending names lie inside pending_bytes. Nothing allocates after
 * tracking_init; nothing does I/O (the installed sender does).
 */
#include "tracking.h"

#include <string.h>

#include "hashfn.h"
#include "number.h"
#include "redis_param.h"

uint64_t tracking_plan_bytes(void)
{
    return (uint64_t)TRACKING_KEYS_MAX * sizeof(struct tracking_key) +
           (uint64_t)TRACKING_LINKS_MAX * sizeof(struct tracking_link) +
           (uint64_t)TRACKING_BUCKET_COUNT * sizeof(uint32_t) + 3u * 64u; /* alignment */
}

void tracking_init(struct tracking *tracking, struct region *region, uint32_t slot_count,
                   uint64_t seed)
{
    memset(tracking, 0, sizeof(*tracking));
    tracking->keys = region_carve(region, TRACKING_KEYS_MAX * sizeof(struct tracking_key), 64);
    tracking->links =
        region_carve(region, TRACKING_LINKS_MAX * sizeof(struct tracking_link), 64);
    tracking->buckets = region_carve(region, TRACKING_BUCKET_COUNT * sizeof(uint32_t), 64);
    tracking->seed = seed;
    tracking->slot_count = slot_count;
    tracking->current_slot = TRACKING_NONE;
    /* Free stacks, slot 0 on top; the buckets empty. Each loop bounded by its capacity. */
    for (uint32_t index = 0; index < TRACKING_KEYS_MAX; index++) {
        tracking->keys[index] = (struct tracking_key){
            .next = index + 1 < TRACKING_KEYS_MAX ? index + 1 : TRACKING_NONE,
            .link_head = TRACKING_NONE};
    }
    for (uint32_t index = 0; index < TRACKING_LINKS_MAX; index++) {
        tracking->links[index] = (struct tracking_link){
            .next = index + 1 < TRACKING_LINKS_MAX ? index + 1 : TRACKING_NONE};
    }
    for (uint32_t index = 0; index < TRACKING_BUCKET_COUNT; index++) {
        tracking->buckets[index] = TRACKING_NONE;
    }
    tracking->key_free = 0;
    tracking->link_free = 0;
    tracking->random_state = seed | 1u; /* xorshift never leaves a non-zero state */
    tracking->max_keys_param = redis_param_find("tracking-table-max-keys",
                                                sizeof("tracking-table-max-keys") - 1);
    KV_ASSERT(tracking->key_count == 0 && tracking->link_count == 0);
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
    /* Its links stay in the table and are skipped: it no longer tracks. */
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

static uint32_t bucket_of(uint64_t hash)
{
    return (uint32_t)(hash & (TRACKING_BUCKET_COUNT - 1));
}

/* The key slot of a hash, or TRACKING_NONE; `previous` the slot before it in its bucket. */
static uint32_t key_find(const struct tracking *tracking, uint64_t hash, uint32_t *previous)
{
    *previous = TRACKING_NONE;
    uint32_t at = tracking->buckets[bucket_of(hash)];
    /* Bounded by the keys held. */
    for (uint32_t steps = 0; at != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < TRACKING_KEYS_MAX);
        if (tracking->keys[at].hash == hash) {
            return at;
        }
        *previous = at;
        at = tracking->keys[at].next;
    }
    return TRACKING_NONE;
}

/* Unlinks a key (found after `previous`) and gives it and its links back; returns its
 * links' head before it went (their ids stay readable until the next acquire). */
static void key_remove(struct tracking *tracking, uint32_t slot, uint32_t previous)
{
    struct tracking_key *key = &tracking->keys[slot];
    KV_ASSERT(key->used);
    if (previous == TRACKING_NONE) {
        tracking->buckets[bucket_of(key->hash)] = key->next;
    } else {
        tracking->keys[previous].next = key->next;
    }
    uint32_t link = key->link_head;
    /* Bounded by the links held. */
    for (uint32_t steps = 0; link != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < TRACKING_LINKS_MAX);
        uint32_t next = tracking->links[link].next;
        tracking->links[link].next = tracking->link_free;
        tracking->link_free = link;
        tracking->link_count--;
        link = next;
    }
    key->used = 0;
    key->link_head = TRACKING_NONE;
    key->next = tracking->key_free;
    tracking->key_free = slot;
    tracking->key_count--;
}

/* Whether this client is still the one tracking (not gone, not switched off). */
static const struct tracking_client *live_client(const struct tracking *tracking,
                                                 uint32_t slot_index, uint64_t id)
{
    KV_ASSERT(id != 0);
    return tracking->client(tracking->context, slot_index, &id);
}

/* The client in a slot and its id, or NULL. */
static const struct tracking_client *slot_client(const struct tracking *tracking,
                                                 uint32_t slot_index, uint64_t *id)
{
    *id = 0;
    return tracking->client(tracking->context, slot_index, id);
}

/* Notes an invalidation owed: to client target_id (0: a changed key for the broadcasters),
 * of `key` (NULL: everything). A full list turns into a null for every tracking client. */
static void pending_add(struct tracking *tracking, uint64_t target_id, uint32_t target_slot,
                        const struct slice *key)
{
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

/* Owes a key's clients (those still tracking in normal mode) its invalidation and forgets
 * it: Redis's trackingInvalidateKey. `key` NULL: the name was not kept (eviction): a null. */
static void key_invalidate(struct tracking *tracking, uint32_t slot, uint32_t previous,
                           const struct slice *key)
{
    uint32_t link = tracking->keys[slot].link_head;
    /* Bounded by the links held. */
    for (uint32_t steps = 0; link != TRACKING_NONE; steps++) {
        KV_ASSERT(steps < TRACKING_LINKS_MAX);
        const struct tracking_link *entry = &tracking->links[link];
        link = entry->next;
        const struct tracking_client *state = live_client(tracking, entry->slot_index, entry->id);
        if (state == NULL || !(state->flags & TRACKING_ON) || (state->flags & TRACKING_BCAST)) {
            continue;
        }
        if (entry->id == tracking->current_id && (state->flags & TRACKING_NOLOOP)) {
            continue;
        }
        pending_add(tracking, entry->id, entry->slot_index, key);
    }
    key_remove(tracking, slot, previous);
}

/* Frees a key slot (and links) for a new one, as Redis evicts past its maximum. */
static void evict_one(struct tracking *tracking)
{
    KV_ASSERT(tracking->key_count > 0);
    /* Bounded by the capacity: some slot is used. */
    for (uint32_t steps = 0; steps < TRACKING_KEYS_MAX; steps++) {
        uint32_t slot = tracking->evict_cursor;
        tracking->evict_cursor = (tracking->evict_cursor + 1) % TRACKING_KEYS_MAX;
        struct tracking_key *key = &tracking->keys[slot];
        if (!key->used) {
            continue;
        }
        uint32_t previous = TRACKING_NONE;
        uint32_t found = key_find(tracking, key->hash, &previous);
        KV_ASSERT(found == slot);
        struct slice name = {.bytes = key->name, .length = key->name_length};
        key_invalidate(tracking, slot, previous, key->long_name ? NULL : &name);
        return;
    }
    KV_ASSERT(false); /* key_count > 0 */
}

/* tracking-table-max-keys as CONFIG SET left it (0: no limit but the table's capacity). */
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

/* A random used slot: the first used one from a random place (xorshift64). */
static uint32_t random_used_slot(struct tracking *tracking)
{
    KV_ASSERT(tracking->key_count > 0);
    uint64_t state = tracking->random_state;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    tracking->random_state = state;
    uint32_t start = (uint32_t)(state % TRACKING_KEYS_MAX);
    /* Bounded by the capacity: some slot is used. */
    for (uint32_t steps = 0; steps < TRACKING_KEYS_MAX; steps++) {
        uint32_t slot = (start + steps) % TRACKING_KEYS_MAX;
        if (tracking->keys[slot].used) {
            return slot;
        }
    }
    KV_ASSERT(false); /* key_count > 0 */
    return TRACKING_NONE;
}

void tracking_limit(struct tracking *tracking, uint32_t slot_index, uint64_t id)
{
    KV_ASSERT(id != 0);
    KV_ASSERT(tracking->current_id == 0); /* between commands */
    if (tracking->key_count == 0) {
        tracking->limit_effort_runs = 0;
        return;
    }
    uint64_t max_keys = limit_configured(tracking);
    if (max_keys == 0 || tracking->key_count <= max_keys) {
        tracking->limit_effort_runs = 0;
        return;
    }
    /* As Redis's trackingLimitUsedSlots: an effort that grows with each command that found
     * the table still over the limit; the command's client is the current one (NOLOOP). */
    uint64_t effort = 100u * ((uint64_t)tracking->limit_effort_runs + 1u);
    tracking_command_begin(tracking, slot_index, id);
    /* Bounded by the effort (and the keys: each pass removes one). */
    for (uint64_t pass = 0; pass < effort && tracking->key_count > max_keys; pass++) {
        uint32_t slot = random_used_slot(tracking);
        struct tracking_key *key = &tracking->keys[slot];
        uint32_t previous = TRACKING_NONE;
        uint32_t found = key_find(tracking, key->hash, &previous);
        KV_ASSERT(found == slot);
        struct slice name = {.bytes = key->name, .length = key->name_length};
        key_invalidate(tracking, slot, previous, key->long_name ? NULL : &name);
        if (tracking->pending_count >= TRACKING_PENDING_MAX / 2u) {
            tracking_deliver(tracking); /* in pieces: the list never overflows for this */
        }
    }
    tracking_command_end(tracking);
    /* Sent now, before the command runs, as Redis sends them. */
    tracking_deliver(tracking);
    if (tracking->key_count <= max_keys) {
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
    uint64_t hash = hashfn_bytes(key.bytes, key.length, tracking->seed);
    uint32_t previous = TRACKING_NONE;
    uint32_t slot = key_find(tracking, hash, &previous);
    if (slot != TRACKING_NONE) {
        uint32_t link = tracking->keys[slot].link_head;
        /* Bounded by the links held: already linked? */
        for (uint32_t steps = 0; link != TRACKING_NONE; steps++) {
            KV_ASSERT(steps < TRACKING_LINKS_MAX);
            if (tracking->links[link].id == id) {
                return;
            }
            link = tracking->links[link].next;
        }
    }
    /* Room for a new key and a link: evict until there is (each eviction frees a key and
     * at least nothing less; bounded by the keys held). */
    for (uint32_t steps = 0; steps <= TRACKING_KEYS_MAX; steps++) {
        bool key_room = slot != TRACKING_NONE || tracking->key_free != TRACKING_NONE;
        if (key_room && tracking->link_free != TRACKING_NONE) {
            break;
        }
        evict_one(tracking);
        slot = key_find(tracking, hash, &previous); /* it may have been the one evicted */
    }
    if (slot == TRACKING_NONE) {
        slot = tracking->key_free;
        KV_ASSERT(slot != TRACKING_NONE);
        struct tracking_key *entry = &tracking->keys[slot];
        tracking->key_free = entry->next;
        bool keep = key.length <= TRACKING_NAME_BYTES_MAX;
        *entry = (struct tracking_key){.hash = hash,
                                       .next = tracking->buckets[bucket_of(hash)],
                                       .link_head = TRACKING_NONE,
                                       .used = 1,
                                       .name_length = keep ? (uint8_t)key.length : 0,
                                       .long_name = keep ? 0 : 1};
        if (keep && key.length > 0) {
            memcpy(entry->name, key.bytes, key.length);
        }
        tracking->buckets[bucket_of(hash)] = slot;
        tracking->key_count++;
    }
    uint32_t link = tracking->link_free;
    KV_ASSERT(link != TRACKING_NONE);
    tracking->link_free = tracking->links[link].next;
    tracking->links[link] = (struct tracking_link){
        .id = id, .slot_index = slot_index, .next = tracking->keys[slot].link_head};
    tracking->keys[slot].link_head = link;
    tracking->link_count++;
    KV_ASSERT(tracking->key_count <= TRACKING_KEYS_MAX);
    KV_ASSERT(tracking->link_count <= TRACKING_LINKS_MAX);
}

void tracking_touched(struct tracking *tracking, struct slice key)
{
    if (tracking->muted || tracking->tracking_count == 0) {
        return;
    }
    if (tracking->bcast_count > 0) {
        pending_add(tracking, 0, TRACKING_NONE, &key); /* matched to prefixes when sent */
    }
    if (tracking->key_count == 0) {
        return;
    }
    uint64_t hash = hashfn_bytes(key.bytes, key.length, tracking->seed);
    uint32_t previous = TRACKING_NONE;
    uint32_t slot = key_find(tracking, hash, &previous);
    if (slot != TRACKING_NONE) {
        key_invalidate(tracking, slot, previous, &key);
    }
}

static struct slice pending_key(const struct tracking *tracking, uint32_t index)
{
    const struct tracking_pending *pending = &tracking->pending[index];
    KV_ASSERT(pending->offset + pending->length <= tracking->pending_used_bytes);
    return (struct slice){.bytes = tracking->pending_bytes + pending->offset,
                          .length = pending->length};
}

/* One broadcasting client's messages: per prefix, the pending keys under it (not its own
 * with NOLOOP), sorted, each once. */
static void broadcast_client(struct tracking *tracking, uint32_t slot_index, uint64_t id,
                             const struct tracking_client *state)
{
    struct slice keys[TRACKING_PENDING_MAX];
    /* Bounded by TRACKING_PREFIXES_MAX times the pending list (each key placed among at most
     * TRACKING_PENDING_MAX). */
    for (uint32_t prefix = 0; prefix < state->prefix_count; prefix++) {
        uint32_t count = 0;
        for (uint32_t index = 0; index < tracking->pending_count; index++) {
            const struct tracking_pending *pending = &tracking->pending[index];
            struct slice key = pending_key(tracking, index);
            if (pending->target_id != 0 || !has_prefix(key, client_prefix(state, prefix)) ||
                ((state->flags & TRACKING_NOLOOP) && pending->modifier_id == id)) {
                continue;
            }
            /* Insertion into sorted place, once. */
            uint32_t at = 0;
            while (at < count && name_compare(keys[at], key) < 0) {
                at++;
            }
            if (at < count && name_compare(keys[at], key) == 0) {
                continue;
            }
            for (uint32_t move = count; move > at; move--) {
                keys[move] = keys[move - 1];
            }
            keys[at] = key;
            count++;
        }
        if (count > 0) {
            tracking->send(tracking->context, slot_index, id, keys, count);
        }
    }
}

void tracking_command_end(struct tracking *tracking)
{
    tracking->current_id = 0;
    tracking->current_slot = TRACKING_NONE;
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
        /* The direct ones, in the order they came. Bounded by the list. */
        for (uint32_t index = 0; index < tracking->pending_count; index++) {
            const struct tracking_pending *pending = &tracking->pending[index];
            if (pending->target_id != 0 &&
                live_client(tracking, pending->target_slot, pending->target_id) != NULL) {
                struct slice key = pending_key(tracking, index);
                tracking->send(tracking->context, pending->target_slot, pending->target_id,
                               pending->null ? NULL : &key, pending->null ? 0 : 1);
            }
        }
        /* Then the broadcasters. Bounded by the connection slots. */
        for (uint32_t slot = 0; slot < tracking->slot_count && tracking->bcast_count > 0; slot++) {
            const struct tracking_client *state = slot_client(tracking, slot, &id);
            if (state != NULL && (state->flags & TRACKING_BCAST)) {
                KV_ASSERT(id != 0);
                broadcast_client(tracking, slot, id, state);
            }
        }
    }
    tracking->pending_count = 0;
    tracking->pending_used_bytes = 0;
    tracking->pending_overflow = false;
    KV_ASSERT(tracking->pending_count == 0);
}

void tracking_flush_begin(struct tracking *tracking)
{
    KV_ASSERT(!tracking->muted);
    tracking->muted = true;
}

void tracking_flush_end(struct tracking *tracking)
{
    KV_ASSERT(tracking->muted);
    tracking->muted = false;
    if (tracking->tracking_count > 0) {
        /* Bounded by the connection slots: every tracking client owes a null (NOLOOP and
         * BCAST too, as Redis's trackingInvalidateKeysOnFlush). */
        for (uint32_t slot = 0; slot < tracking->slot_count; slot++) {
            uint64_t id = 0;
            const struct tracking_client *state = slot_client(tracking, slot, &id);
            if (state != NULL && (state->flags & TRACKING_ON)) {
                pending_add(tracking, id, slot, NULL);
            }
        }
    }
    /* The table empties. Bounded by the capacity. */
    for (uint32_t bucket = 0; bucket < TRACKING_BUCKET_COUNT; bucket++) {
        while (tracking->buckets[bucket] != TRACKING_NONE) { /* each pass removes one key */
            key_remove(tracking, tracking->buckets[bucket], TRACKING_NONE);
        }
    }
    KV_ASSERT(tracking->key_count == 0 && tracking->link_count == 0);
}

void tracking_verify(const struct tracking *tracking)
{
    /* Every walk below is bounded by the capacities, asserted as it goes. */
    uint32_t keys = 0;
    uint32_t links = 0;
    for (uint32_t bucket = 0; bucket < TRACKING_BUCKET_COUNT; bucket++) {
        for (uint32_t at = tracking->buckets[bucket]; at != TRACKING_NONE;
             at = tracking->keys[at].next) {
            KV_ASSERT(tracking->keys[at].used);
            KV_ASSERT(bucket_of(tracking->keys[at].hash) == bucket);
            keys++;
            KV_ASSERT(keys <= TRACKING_KEYS_MAX);
            for (uint32_t link = tracking->keys[at].link_head; link != TRACKING_NONE;
                 link = tracking->links[link].next) {
                links++;
                KV_ASSERT(links <= TRACKING_LINKS_MAX);
            }
        }
    }
    KV_ASSERT(keys == tracking->key_count);
    KV_ASSERT(links == tracking->link_count);
    uint32_t free_keys = 0;
    for (uint32_t at = tracking->key_free; at != TRACKING_NONE; at = tracking->keys[at].next) {
        KV_ASSERT(!tracking->keys[at].used);
        free_keys++;
        KV_ASSERT(free_keys <= TRACKING_KEYS_MAX);
    }
    uint32_t free_links = 0;
    for (uint32_t at = tracking->link_free; at != TRACKING_NONE; at = tracking->links[at].next) {
        free_links++;
        KV_ASSERT(free_links <= TRACKING_LINKS_MAX);
    }
    KV_ASSERT(free_keys + keys == TRACKING_KEYS_MAX);
    KV_ASSERT(free_links + links == TRACKING_LINKS_MAX);
}
