/*
 * Proves the tracking table and the invalidations it owes, without a server: a fake
 * serving layer (four client slots, a recorded list of messages) stands in for cmd_tracking.c,
 * over a real heap. Normal mode: a remembered key is told once to each client that read it,
 * then forgotten; NOLOOP skips the changer; OPTIN remembers only with CACHING, OPTOUT all but
 * with it; a client that left or turned tracking off has its links freed (and the keys only
 * it tracked); nothing is sent before tracking_deliver. BCAST: the keys changed over a pass
 * (thousands, over many commands) go out at tracking_broadcast, one message per prefix,
 * sorted, each once, NOLOOP filtering the keys whose last changer the client was. Flush: a
 * null to every tracking client and an empty table, no per-key message. Scale: 60,000 keys
 * read by three clients stay tracked (no capacity but the heap) and free their heap bytes
 * when the clients leave; a heap with no room for a key tells its reader at once; a pending
 * list past its bound turns into nulls; prefixes collide as Redis checks. A seeded random
 * run (KV_SEED replays it; the seed is printed on failure) checks against a model that each
 * key a client read is told exactly once on its change, with clients switching tracking off
 * and on, and tracking_verify every 500 steps.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "tracking.h"

#define SLOTS 4u
#define MESSAGES_MAX 20000u

#define HEAP_BYTES (32u << 20)

static struct region region;
static struct heap heap;
static struct tracking tracking;
static struct tracking_client states[SLOTS];
static uint64_t ids[SLOTS];
static uint64_t seed_used;

/* A message as the fake sender got it: to which slot, and the keys joined with ',' ("" for
 * a null). */
struct message {
    uint32_t slot;
    bool null;
    uint32_t key_count;
    bool sorted;          /* each key above the one before */
    char keys[256];       /* as many as fit */
};

static struct message messages[MESSAGES_MAX];
static uint32_t message_count;

static void fake_send(void *context, uint32_t slot_index, uint64_t id, const struct slice *keys,
                      uint32_t key_count)
{
    CHECK(context == &tracking);
    CHECK(slot_index < SLOTS && ids[slot_index] == id);
    if (message_count == MESSAGES_MAX) {
        return;
    }
    struct message *message = &messages[message_count++];
    message->slot = slot_index;
    message->null = keys == NULL;
    message->key_count = key_count;
    message->sorted = true;
    message->keys[0] = '\0';
    size_t used = 0;
    for (uint32_t index = 0; index < key_count; index++) {
        if (index > 0) {
            struct slice before = keys[index - 1];
            struct slice now = keys[index];
            uint32_t common = before.length < now.length ? before.length : now.length;
            int order = memcmp(before.bytes, now.bytes, common);
            message->sorted = message->sorted &&
                              (order < 0 || (order == 0 && before.length < now.length));
        }
        int written = snprintf(message->keys + used, sizeof(message->keys) - used, "%s%.*s",
                               index > 0 ? "," : "", (int)keys[index].length,
                               (const char *)keys[index].bytes);
        if (written < 0 || used + (size_t)written >= sizeof(message->keys)) {
            message->keys[used] = '\0'; /* the rest does not fit: counted, not kept */
            continue;
        }
        used += (size_t)written;
    }
}

static struct tracking_client *fake_client(void *context, uint32_t slot_index, uint64_t *id)
{
    CHECK(context == &tracking);
    CHECK(slot_index < SLOTS);
    if (ids[slot_index] == 0 || (*id != 0 && *id != ids[slot_index])) {
        return NULL;
    }
    *id = ids[slot_index];
    return &states[slot_index];
}

/* A client joins slot `slot` with a new id (its state cleared). */
static uint64_t id_next = 1;
static void client_open(uint32_t slot)
{
    memset(&states[slot], 0, sizeof(states[slot]));
    ids[slot] = id_next++;
}

static void client_leave(uint32_t slot)
{
    tracking_disable(&tracking, &states[slot]);
    ids[slot] = 0;
}

static void reset_all(void)
{
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        if (ids[slot] != 0) {
            client_leave(slot);
        }
        client_open(slot);
    }
    tracking_flush_begin(&tracking);
    tracking_flush_end(&tracking); /* no one tracks: an empty table, no message */
    tracking_deliver(&tracking);
    message_count = 0;
    tracking_broadcast(&tracking);
    message_count = 0;
    CHECK(tracking_key_count(&tracking) == 0 && tracking.tracking_count == 0);
    CHECK(tracking_memory_bytes(&tracking) == 0);
}

/* Client `slot` runs a command that reads `key`. */
static void read_key(uint32_t slot, const char *key)
{
    tracking_command_begin(&tracking, slot, ids[slot]);
    if ((states[slot].flags & TRACKING_ON) && !(states[slot].flags & TRACKING_BCAST)) {
        tracking_remember(&tracking, &states[slot], slot, ids[slot], text(key));
    }
    tracking_command_end(&tracking);
    states[slot].flags &= ~(uint32_t)TRACKING_CACHING;
    tracking_deliver(&tracking);
}

/* Client `slot` runs a command that changes `keys` (NULL-terminated). */
static void write_keys(uint32_t slot, const char *const *keys)
{
    tracking_command_begin(&tracking, slot, ids[slot]);
    for (uint32_t index = 0; keys[index] != NULL; index++) {
        tracking_touched(&tracking, text(keys[index]));
    }
    tracking_command_end(&tracking);
}

static void write_key(uint32_t slot, const char *key)
{
    const char *keys[] = {key, NULL};
    uint32_t before = message_count;
    write_keys(slot, keys);
    CHECK(message_count == before); /* nothing before the reply */
    tracking_deliver(&tracking);
}

static void expect(uint32_t index, uint32_t slot, const char *keys)
{
    CHECK(index < message_count);
    if (index < message_count) {
        CHECK(messages[index].slot == slot);
        CHECK(keys == NULL ? messages[index].null : strcmp(messages[index].keys, keys) == 0);
        if (keys != NULL && strcmp(messages[index].keys, keys) != 0) {
            fprintf(stderr, "  message %u: got '%s', want '%s'\n", index, messages[index].keys,
                    keys);
        }
    }
}

static void check_normal(void)
{
    reset_all();
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[1], TRACKING_NOLOOP, 0, NULL, 0);
    read_key(0, "a");
    read_key(1, "a");
    read_key(0, "a"); /* twice: one link */
    CHECK(tracking_key_count(&tracking) == 1 && tracking.link_count == 2);
    write_key(2, "b"); /* nobody read it */
    CHECK(message_count == 0);
    write_key(1, "a"); /* NOLOOP: only client 0 */
    CHECK(message_count == 1);
    expect(0, 0, "a");
    CHECK(tracking_key_count(&tracking) == 0 && tracking.link_count == 0);
    write_key(2, "a"); /* forgotten: read it again to hear again */
    CHECK(message_count == 1);
    read_key(0, "k");
    read_key(1, "k");
    write_key(0, "k"); /* its own change: told too (no NOLOOP), and client 1 */
    CHECK(message_count == 3);
    tracking_verify(&tracking);
    /* OPTIN and OPTOUT. */
    reset_all();
    tracking_enable(&tracking, &states[0], TRACKING_OPTIN, 0, NULL, 0);
    tracking_enable(&tracking, &states[1], TRACKING_OPTOUT, 0, NULL, 0);
    read_key(0, "x");
    states[0].flags |= TRACKING_CACHING;
    read_key(0, "y");
    read_key(1, "x");
    states[1].flags |= TRACKING_CACHING;
    read_key(1, "y");
    CHECK(tracking.link_count == 2);
    write_key(2, "x");
    write_key(2, "y");
    CHECK(message_count == 2);
    expect(0, 1, "x");
    expect(1, 0, "y");
    /* A client that left, or switched off, is skipped; its slot's new client too. */
    reset_all();
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[1], 0, 0, NULL, 0);
    read_key(0, "a");
    read_key(1, "a");
    read_key(1, "b");
    CHECK(tracking_key_count(&tracking) == 2 && tracking.link_count == 3);
    client_leave(0);
    CHECK(tracking_key_count(&tracking) == 2 && tracking.link_count == 2); /* its link went */
    client_open(0);
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0); /* a new client in slot 0 */
    tracking_disable(&tracking, &states[1]);
    CHECK(tracking_key_count(&tracking) == 0 && tracking.link_count == 0); /* all freed */
    CHECK(tracking_memory_bytes(&tracking) == 0);
    tracking_enable(&tracking, &states[1], 0, 0, NULL, 0); /* on again: told nothing old */
    write_key(2, "a");
    write_key(2, "b");
    CHECK(message_count == 0);
    tracking_verify(&tracking);
}

static void check_bcast_and_flush(void)
{
    reset_all();
    struct slice prefixes[] = {text("user:"), text("obj")};
    tracking_enable(&tracking, &states[0], TRACKING_BCAST, 0, prefixes, 2);
    tracking_enable(&tracking, &states[1], TRACKING_BCAST | TRACKING_NOLOOP, 0, NULL, 0);
    CHECK(states[0].prefix_count == 2 && states[1].prefix_count == 1);
    CHECK(memcmp(states[0].prefixes[0], "obj", 3) == 0); /* sorted */
    const char *keys[] = {"user:2", "other", "user:1", "user:2", "object", NULL};
    write_keys(1, keys);
    tracking_deliver(&tracking);
    CHECK(message_count == 0); /* broadcasts wait for the pass to end */
    tracking_broadcast(&tracking);
    /* Client 0: "obj" then "user:"; client 1 changed them itself (NOLOOP): nothing. */
    CHECK(message_count == 2);
    expect(0, 0, "object");
    expect(1, 0, "user:1,user:2");
    write_keys(2, keys);
    tracking_broadcast(&tracking);
    CHECK(message_count == 5);
    expect(4, 1, "object,other,user:1,user:2");
    /* NOLOOP goes by the last changer in the pass, as Redis keeps it. */
    message_count = 0;
    const char *first[] = {"user:7", "user:8", NULL};
    const char *second[] = {"user:7", NULL};
    write_keys(2, first);
    write_keys(1, second);
    tracking_broadcast(&tracking);
    CHECK(message_count == 2);
    expect(0, 0, "user:7,user:8");
    expect(1, 1, "user:8");
    /* A pass of many commands: every key once, sorted, in one message per prefix. */
    message_count = 0;
    char name[32];
    for (uint32_t number = 0; number < 3000; number++) {
        snprintf(name, sizeof(name), "user:%05u", (number * 7919u) % 2000u);
        const char *one[] = {name, NULL};
        write_keys(2, one);
    }
    tracking_broadcast(&tracking);
    CHECK(message_count == 2); /* "obj" and "user:" for client 0, "" for client 1 */
    CHECK(messages[0].slot == 0 && messages[0].key_count == 2000 && messages[0].sorted);
    CHECK(messages[1].slot == 1 && messages[1].key_count == 2000 && messages[1].sorted);
    CHECK(strncmp(messages[0].keys, "user:00000,user:00001,", 22) == 0);
    tracking_verify(&tracking);
    CHECK(tracking_memory_bytes(&tracking) == 0); /* the pass's keys are given back */
    /* Collisions, as Redis checks them. */
    uint32_t index = 0;
    struct slice overlapped;
    bool among_new = false;
    struct slice one[] = {text("user:x")};
    CHECK(tracking_prefix_collides(&states[0], one, 1, &index, &overlapped, &among_new));
    CHECK(index == 0 && overlapped.length == 5);
    struct slice same[] = {text("user:")};
    CHECK(tracking_prefix_collides(&states[0], same, 1, &index, &overlapped, &among_new)); /* equal too */
    struct slice apart[] = {text("usr"), text("ob")};
    CHECK(tracking_prefix_collides(&states[0], apart, 2, &index, &overlapped, &among_new));
    CHECK(index == 1 && overlapped.length == 3 && !among_new); /* "ob" and "obj" */
    struct slice clear[] = {text("usr"), text("x")};
    CHECK(!tracking_prefix_collides(&states[0], clear, 2, &index, &overlapped, &among_new));
    struct slice two[] = {text("ab"), text("abc")};
    CHECK(tracking_prefix_collides(&states[2], two, 2, &index, &overlapped, &among_new));
    CHECK(among_new && index == 0);
    /* Flush: a null to each tracking client, no per-key message, an empty table. */
    message_count = 0;
    tracking_enable(&tracking, &states[2], 0, 0, NULL, 0);
    read_key(2, "user:9");
    tracking_command_begin(&tracking, 3, ids[3]);
    tracking_flush_begin(&tracking);
    const char *gone[] = {"user:9", "user:1", NULL};
    write_keys(3, gone);
    tracking_flush_end(&tracking);
    tracking_command_end(&tracking);
    tracking_deliver(&tracking);
    CHECK(message_count == 3);
    for (uint32_t at = 0; at < message_count; at++) {
        CHECK(messages[at].null);
    }
    CHECK(tracking_key_count(&tracking) == 0);
    tracking_verify(&tracking);
}

static void check_scale(void)
{
    reset_all();
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[1], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[2], 0, 0, NULL, 0);
    char key[96];
    /* Far more keys than the old fixed table held, each read by three clients: all kept. */
    enum { SCALE_KEYS = 60000 };
    for (uint32_t number = 0; number < SCALE_KEYS; number++) {
        snprintf(key, sizeof(key), number % 97 == 0 ? "%060u-a-long-name" : "k%u", number);
        for (uint32_t slot = 0; slot < 3; slot++) {
            read_key(slot, key);
        }
    }
    CHECK(message_count == 0);
    CHECK(tracking_key_count(&tracking) == SCALE_KEYS);
    CHECK(tracking.link_count == 3u * SCALE_KEYS);
    CHECK(tracking_memory_bytes(&tracking) > 3u * SCALE_KEYS * 32u);
    tracking_verify(&tracking);
    /* A change tells each reader by name, long names too. */
    snprintf(key, sizeof(key), "%060u-a-long-name", 97u * 3u);
    write_key(3, key);
    CHECK(message_count == 3);
    expect(0, 2, key);
    /* A pending list past its bound: one null per tracking client instead. */
    message_count = 0;
    tracking_command_begin(&tracking, 3, ids[3]);
    for (uint32_t number = 0; number < TRACKING_PENDING_MAX * 2; number++) {
        snprintf(key, sizeof(key), "k%u", number + 1);
        tracking_touched(&tracking, text(key));
    }
    tracking_command_end(&tracking);
    tracking_deliver(&tracking);
    CHECK(message_count == 3);
    for (uint32_t at = 0; at < message_count; at++) {
        CHECK(messages[at].null);
    }
    tracking_verify(&tracking);
    /* Leaving clients give every byte back. */
    uint64_t used_before = heap.used_bytes;
    client_leave(0);
    client_leave(1);
    CHECK(tracking.link_count == tracking_key_count(&tracking)); /* one reader left */
    client_leave(2);
    CHECK(tracking_key_count(&tracking) == 0 && tracking.link_count == 0);
    CHECK(tracking_memory_bytes(&tracking) == 0 && heap.used_bytes < used_before);
    tracking_verify(&tracking);
}

/* No room in the heap: the reader is told at once, the table unchanged. */
static void check_out_of_memory(void)
{
    reset_all();
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0);
    read_key(0, "kept");
    enum { FILLERS_MAX = 200000 };
    static void *fillers[FILLERS_MAX];
    uint32_t filler_count = 0;
    /* Bounded by FILLERS_MAX: fill the heap with big pieces, then every small class. */
    for (uint64_t size = HEAP_PAGE_BYTES * 16u; size >= HEAP_ALIGN;
         size = size > 256 ? size / 2u : size - HEAP_ALIGN) {
        while (filler_count < FILLERS_MAX) {
            void *piece = heap_alloc(&heap, size);
            if (piece == NULL) {
                break;
            }
            fillers[filler_count++] = piece;
        }
    }
    CHECK(filler_count < FILLERS_MAX);
    uint64_t links = tracking.link_count;
    read_key(0, "not-kept");
    CHECK(message_count == 1); /* told at once (after its reply) */
    expect(0, 0, "not-kept");
    CHECK(tracking.link_count == links && tracking_key_count(&tracking) == 1);
    /* A broadcast pass with no room: a null to the broadcaster. */
    tracking_enable(&tracking, &states[1], TRACKING_BCAST, 0, NULL, 0);
    const char *changed[] = {"x", NULL};
    write_keys(2, changed);
    tracking_broadcast(&tracking);
    CHECK(message_count == 2 && messages[1].slot == 1 && messages[1].null);
    CHECK(tracking_memory_bytes(&tracking) > 0); /* "kept" alone */
    for (uint32_t index = 0; index < filler_count; index++) {
        heap_release(&heap, fillers[index]);
    }
    write_key(2, "kept");
    CHECK(message_count == 3);
    expect(2, 0, "kept");
    tracking_verify(&tracking);
}

/* Random reads and writes against a model: which (client, key) pairs are owed a message. */
static void check_random(uint64_t seed)
{
    reset_all();
    srand((unsigned)seed);
    enum { KEYS = 40 };
    bool model[SLOTS][KEYS];
    memset(model, 0, sizeof(model));
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        tracking_enable(&tracking, &states[slot], 0, 0, NULL, 0);
    }
    char key[16];
    for (uint32_t step = 0; step < 20000; step++) {
        uint32_t slot = (uint32_t)rand() % SLOTS;
        uint32_t number = (uint32_t)rand() % KEYS;
        snprintf(key, sizeof(key), "key%u", number);
        if (rand() % 200 == 0) {
            /* Off and on again: what it read is forgotten, nothing is owed. */
            tracking_disable(&tracking, &states[slot]);
            tracking_enable(&tracking, &states[slot], 0, 0, NULL, 0);
            memset(model[slot], 0, sizeof(model[slot]));
        } else if (rand() % 2 == 0) {
            read_key(slot, key);
            model[slot][number] = true;
        } else {
            message_count = 0;
            write_key(slot, key);
            uint32_t owed = 0;
            for (uint32_t target = 0; target < SLOTS; target++) {
                owed += model[target][number] ? 1u : 0u;
                model[target][number] = false;
            }
            CHECK(message_count == owed);
            for (uint32_t at = 0; at < message_count; at++) {
                CHECK(strcmp(messages[at].keys, key) == 0);
            }
            if (message_count != owed) {
                fprintf(stderr, "seed %llu step %u\n", (unsigned long long)seed_used, step);
                return;
            }
        }
        if (step % 500 == 0) {
            tracking_verify(&tracking); /* it walks the whole table: now and then */
        }
    }
    tracking_verify(&tracking);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    seed_used = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    char error[256];
    if (region_map(&region, heap_plan_bytes(HEAP_BYTES), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF,
                   error, sizeof(error)) != 0) {
        fprintf(stderr, "test_tracking: %s\n", error);
        return 1;
    }
    heap_init(&heap, &region, HEAP_BYTES);
    tracking_init(&tracking, &heap, SLOTS, seed_used);
    tracking_sender_set(&tracking, fake_send, fake_client, &tracking);
    tracking_verify(&tracking);
    check_normal();
    check_bcast_and_flush();
    check_scale();
    check_out_of_memory();
    check_random(seed_used);
    int status = check_exit("test_tracking");
    if (status != 0) {
        fprintf(stderr, "test_tracking: seed %llu (KV_SEED replays it)\n",
                (unsigned long long)seed_used);
    }
    region_unmap(&region);
    return status;
}
