/*
 * Eviction (evict.h). The data's limit is on the heap's used bytes (the usable bytes of every
 * allocation, what INFO reports as used_memory) less what client buffers hold, which come
 * and go with traffic (a pipeline's receive buffer, a large reply) and have the reserve:
 * data + need <= limit. Pool invariant: pool[0 .. pool_count) hold names of keys that were
 * live when sampled, in ascending score; the best candidate is the last. A pooled name may
 * have gone since (a ghost): it is looked up again before it is evicted, without touching
 * its clock. Every loop is bounded: a sample by EVICT_SAMPLES_MAX keys, the pool by its
 * size, picking by EVICT_ROUNDS_MAX rounds, evicting by the time limit and the keys there are.
 */
#include "evict.h"

#include <math.h>
#include <string.h>

/* Sampling rounds one pick may take when the pool holds only ghosts: each round samples
 * afresh, so giving up after this many means the keyspace is empty or changing under us. */
#define EVICT_ROUNDS_MAX 16u

void evict_init(struct evict *evict, struct store *store, struct heap *heap,
                const struct config *config, uint64_t (*now_us)(void),
                const uint64_t *client_bytes)
{
    KV_ASSERT(client_bytes != NULL);
    memset(evict, 0, sizeof(*evict));
    evict->store = store;
    evict->heap = heap;
    evict->config = config;
    evict->now_us = now_us;
    uint64_t capacity = (uint64_t)heap->page_count * HEAP_PAGE_BYTES;
    uint64_t reserve = capacity / EVICT_RESERVE_DIVISOR;
    reserve = reserve > EVICT_RESERVE_MIN ? reserve : EVICT_RESERVE_MIN;
    reserve = reserve < EVICT_RESERVE_MAX ? reserve : EVICT_RESERVE_MAX;
    reserve = reserve < capacity / 2 ? reserve : capacity / 2; /* a tiny test heap */
    evict->reserve_bytes = reserve;
    evict->capacity_bytes = capacity;
    heap_keep_free(heap, reserve);
    evict->client_bytes = client_bytes;
    KV_ASSERT(evict->reserve_bytes < evict->capacity_bytes);
    KV_ASSERT(evict->pool_count == 0);
}

uint64_t evict_limit(const struct evict *evict)
{
    uint64_t maxmemory = evict->config->maxmemory;
    uint64_t budget = maxmemory != 0 && maxmemory < evict->capacity_bytes ? maxmemory
                                                                          : evict->capacity_bytes;
    return budget > evict->reserve_bytes ? budget - evict->reserve_bytes : 0;
}

uint64_t evict_data_bytes(const struct evict *evict)
{
    uint64_t used = evict->heap->used_bytes;
    uint64_t clients = *evict->client_bytes;
    KV_ASSERT(clients <= used); /* client buffers are heap allocations too */
    return used - clients;
}

bool evict_enabled(const struct evict *evict)
{
    return evict->config->maxmemory_policy != CONFIG_POLICY_NOEVICTION;
}

static bool policy_volatile(enum config_policy policy)
{
    return policy == CONFIG_POLICY_VOLATILE_LRU || policy == CONFIG_POLICY_VOLATILE_LFU ||
           policy == CONFIG_POLICY_VOLATILE_RANDOM || policy == CONFIG_POLICY_VOLATILE_TTL;
}

static bool policy_random(enum config_policy policy)
{
    return policy == CONFIG_POLICY_ALLKEYS_RANDOM || policy == CONFIG_POLICY_VOLATILE_RANDOM;
}

/* Redis's evictionTimeLimitUs: linear to 500 µs at tenacity 10, then 15% more per step,
 * none at 100. */
static uint64_t time_limit_us(uint32_t tenacity)
{
    KV_ASSERT(tenacity <= 100);
    if (tenacity <= 10) {
        return 50u * tenacity;
    }
    if (tenacity < 100) {
        return (uint64_t)(500.0 * pow(1.15, (double)tenacity - 10.0));
    }
    return UINT64_MAX;
}

/* How good a candidate a key is: higher goes first. */
static uint64_t score_of(const struct evict *evict, const struct store_key *key)
{
    switch (evict->config->maxmemory_policy) {
    case CONFIG_POLICY_ALLKEYS_LFU:
    case CONFIG_POLICY_VOLATILE_LFU:
        return 255u - store_key_lfu(evict->store, key);
    case CONFIG_POLICY_VOLATILE_TTL:
        /* The sooner it expires the better (an expiry time is a positive Unix ms). */
        return UINT64_MAX - (uint64_t)store_key_expire(key);
    default:
        return store_key_idle_ms(evict->store, key);
    }
}

/* Puts a sampled key into the pool where its score belongs, as Redis's
 * evictionPoolPopulate: when the pool is full, the worst entry makes room, and a key worse
 * than every entry stays out. */
static void pool_insert(struct evict *evict, uint64_t score, uint32_t db_index,
                        struct slice name)
{
    KV_ASSERT(name.length <= EVICT_NAME_BYTES_MAX);
    uint32_t count = evict->pool_count;
    uint32_t at = 0;
    /* Bounded by the pool's size. */
    while (at < count && evict->pool[at].score < score) {
        at++;
    }
    if (count == EVICT_POOL_SIZE) {
        if (at == 0) {
            return;
        }
        /* Drop the worst (pool[0]); what was below `at` moves down one. */
        memmove(&evict->pool[0], &evict->pool[1], (at - 1) * sizeof(evict->pool[0]));
        at--;
    } else {
        memmove(&evict->pool[at + 1], &evict->pool[at], (count - at) * sizeof(evict->pool[0]));
        evict->pool_count++;
    }
    struct evict_candidate *entry = &evict->pool[at];
    entry->score = score;
    entry->db_index = db_index;
    entry->name_bytes = name.length;
    if (name.length > 0) {
        memcpy(entry->name, name.bytes, name.length);
    }
    KV_ASSERT(evict->pool_count <= EVICT_POOL_SIZE);
}

/* Samples keys of every database into the pool, as Redis's evictionPoolPopulate per db. Gives
 * the best of those too long to pool (or NONE) and its database, and returns whether the
 * sample found any key at all. Leaves the store's selection as it found it. */
static bool pool_populate(struct evict *evict, bool volatile_only, uint32_t *long_best,
                          uint32_t *long_db_index)
{
    struct store *store = evict->store;
    uint32_t selected = store->db_index;
    uint32_t refs[EVICT_SAMPLES_MAX];
    uint32_t wanted = evict->config->maxmemory_samples;
    wanted = wanted == 0 ? 1 : wanted < EVICT_SAMPLES_MAX ? wanted : EVICT_SAMPLES_MAX;
    uint64_t long_score = 0;
    uint32_t sampled = 0;
    *long_best = HEAP_REF_NONE;
    /* Bounded by the databases, each sampled once. */
    for (uint32_t db_index = 0; db_index < store->db_count; db_index++) {
        uint64_t keys = volatile_only ? store_db_expires_count(store, db_index)
                                      : store_db_key_count(store, db_index);
        if (keys == 0) {
            continue;
        }
        store_select(store, db_index);
        uint32_t count = store_sample(store, volatile_only, refs, wanted);
        sampled += count;
        /* Bounded by the sample's size. */
        for (uint32_t index = 0; index < count; index++) {
            const struct store_key *key = store_key(store, refs[index]);
            uint64_t score = score_of(evict, key);
            struct slice name = store_key_name(key);
            if (name.length <= EVICT_NAME_BYTES_MAX) {
                pool_insert(evict, score, db_index, name);
            } else if (*long_best == HEAP_REF_NONE || score > long_score) {
                *long_best = refs[index];
                *long_db_index = db_index;
                long_score = score;
            }
        }
    }
    store_select(store, selected);
    return sampled > 0;
}

/* Takes the best pooled candidate that is still one: it exists (a volatile policy's still
 * has an expiry time) and was not used since it was pooled (its score now is not below the
 * pooled one; Redis evicts such a key all the same, kv drops it from the pool instead).
 * Ghosts and keys used since are dropped on the way. */
static uint32_t pool_take(struct evict *evict, bool volatile_only)
{
    /* Bounded by the pool's count: each pass drops one entry. */
    while (evict->pool_count > 0) {
        const struct evict_candidate *entry = &evict->pool[--evict->pool_count];
        struct slice name = {.bytes = entry->name, .length = entry->name_bytes};
        uint32_t ref = HEAP_REF_NONE;
        KV_ASSERT(entry->db_index < evict->store->db_count);
        store_select(evict->store, entry->db_index); /* the victim's: the caller restores */
        if (!store_peek(evict->store, name, &ref)) {
            continue;
        }
        const struct store_key *key = store_key(evict->store, ref);
        if ((!volatile_only || store_key_expire(key) != 0) && score_of(evict, key) >= entry->score) {
            return ref;
        }
    }
    return HEAP_REF_NONE;
}

/* The random policies' key: from the next database in turn that has candidates (Redis's
 * next_db), which it leaves selected; NONE when a sample met only empty buckets. */
static uint32_t random_pick(struct evict *evict, bool volatile_only)
{
    struct store *store = evict->store;
    /* Bounded by the databases. */
    for (uint32_t tried = 0; tried < store->db_count; tried++) {
        uint32_t db_index = evict->random_db_index % store->db_count;
        evict->random_db_index = (db_index + 1) % store->db_count;
        uint64_t keys = volatile_only ? store_db_expires_count(store, db_index)
                                      : store_db_key_count(store, db_index);
        if (keys > 0) {
            store_select(store, db_index);
            uint32_t ref = HEAP_REF_NONE;
            return store_sample(store, volatile_only, &ref, 1) == 1 ? ref : HEAP_REF_NONE;
        }
    }
    return HEAP_REF_NONE;
}

/* The key the policy evicts next, or NONE when there is none to evict. The store is left
 * selecting the victim's database (the caller restores its selection). */
static uint32_t victim_pick(struct evict *evict)
{
    enum config_policy policy = evict->config->maxmemory_policy;
    bool volatile_only = policy_volatile(policy);
    /* Bounded by EVICT_ROUNDS_MAX sampling rounds (a sample may meet only empty buckets). */
    for (uint32_t round = 0; round < EVICT_ROUNDS_MAX; round++) {
        uint64_t candidates = volatile_only ? store_expires_count_all(evict->store)
                                            : store_key_count_all(evict->store);
        if (candidates == 0) {
            return HEAP_REF_NONE; /* no key (with an expiry time, for volatile) at all */
        }
        if (policy_random(policy)) {
            uint32_t ref = random_pick(evict, volatile_only);
            if (ref != HEAP_REF_NONE) {
                return ref;
            }
            continue;
        }
        uint32_t long_best = HEAP_REF_NONE;
        uint32_t long_db_index = 0;
        (void)pool_populate(evict, volatile_only, &long_best, &long_db_index);
        uint32_t ref = pool_take(evict, volatile_only);
        if (ref != HEAP_REF_NONE) {
            return ref;
        }
        if (long_best != HEAP_REF_NONE) {
            store_select(evict->store, long_db_index);
            return long_best;
        }
    }
    return HEAP_REF_NONE;
}

/* The reserve is also kept as free pages by the heap itself (heap_keep_free): the data's
 * bytes may be under the limit while partly filled spans of many size classes hold the
 * pages, and then a write that needs a new page fails as OOM (changing nothing), and under
 * an evicting policy evicts and tries once more (cmd's oom_retry). */
static bool over_limit(const struct evict *evict, uint64_t need_bytes)
{
    return evict_data_bytes(evict) + need_bytes > evict_limit(evict);
}

enum evict_result evict_room(struct evict *evict, uint64_t need_bytes)
{
    if (!over_limit(evict, need_bytes)) {
        return EVICT_OK;
    }
    if (!evict_enabled(evict) || need_bytes > evict_limit(evict)) {
        return EVICT_FAIL; /* the policy keeps every key, or no eviction could make room */
    }
    uint64_t started_us = evict->now_us();
    uint64_t limit_us = time_limit_us(evict->config->maxmemory_eviction_tenacity);
    uint64_t keys = 0;
    /* Bounded: each pass removes a key (or fails), and the time limit is looked at every
     * EVICT_CHECK_KEYS keys. */
    uint32_t selected = evict->store->db_index;
    while (over_limit(evict, need_bytes)) {
        uint32_t ref = victim_pick(evict);
        if (ref == HEAP_REF_NONE) {
            store_select(evict->store, selected);
            return EVICT_FAIL;
        }
        /* The event first (its delivery grows subscribers' output, which is not data), so
         * that the key is still there to name and the figure below is the data's alone. */
        store_event_emit(evict->store, STORE_EVENT_EVICTED,
                         store_key_name(store_key(evict->store, ref)));
        /* Progress is a key fewer, not fewer bytes: a removal may start the keyspace dict's
         * shrink, whose new (smaller) bucket array is allocated before the old one goes, so
         * one pass can end with more bytes in use than it began with. */
        uint64_t keys_before = store_key_count(evict->store);
        struct store_found found = {
            .key_ref = ref, .type = store_key_type(store_key(evict->store, ref)), .exists = true};
        store_remove(evict->store, &found);
        KV_ASSERT(store_key_count(evict->store) == keys_before - 1);
        evict->evicted_keys++;
        keys++;
        store_select(evict->store, selected); /* the command's database again */
        if (keys % EVICT_CHECK_KEYS == 0 && evict->now_us() - started_us > limit_us) {
            return over_limit(evict, need_bytes) ? EVICT_RUNNING : EVICT_OK;
        }
    }
    return EVICT_OK;
}

bool evict_pending(const struct evict *evict)
{
    return evict_enabled(evict) && over_limit(evict, 0);
}

void evict_cycle(struct evict *evict)
{
    if (evict_pending(evict)) {
        (void)evict_room(evict, 0);
    }
}

void evict_verify(const struct evict *evict)
{
    KV_ASSERT(evict->pool_count <= EVICT_POOL_SIZE);
    KV_ASSERT(evict->capacity_bytes == (uint64_t)evict->heap->page_count * HEAP_PAGE_BYTES);
    KV_ASSERT(evict_limit(evict) + evict->reserve_bytes <= evict->capacity_bytes);
    /* Bounded by the pool's size. */
    for (uint32_t index = 0; index < evict->pool_count; index++) {
        KV_ASSERT(evict->pool[index].name_bytes <= EVICT_NAME_BYTES_MAX);
        KV_ASSERT(index == 0 || evict->pool[index - 1].score <= evict->pool[index].score);
    }
}
