/*
 * Proves the tracking table and the invalidations it owes, without a server: a fake
 * serving layer (four client slots, a recorded list of messages) stands in for cmd_tracking.c.
 * Normal mode: a remembered key is told once to each client that read it, then forgotten;
 * NOLOOP skips the changer; OPTIN remembers only with CACHING, OPTOUT all but with it; a
 * client that left or turned tracking off is skipped by its id; nothing is sent before
 * tracking_deliver. BCAST: one message per prefix with the keys sorted and without repeats,
 * NOLOOP filtering the changer's keys. Flush: a null to every tracking client and an empty
 * table, no per-key message. Limits: filling past TRACKING_KEYS_MAX and TRACKING_LINKS_MAX
 * evicts (each eviction an invalidation, by name or a null for a long name) and keeps every
 * count within bounds; a pending list past its bound turns into nulls; prefixes collide as
 * Redis checks. A seeded random run (KV_SEED replays it; the seed is printed on failure)
 * checks against a model that each key a client read is told exactly once on its change,
 * with tracking_verify every 500 steps.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tracking.h"

#define SLOTS 4u
#define MESSAGES_MAX 20000u

static struct region region;
static struct tracking tracking;
static struct tracking_client states[SLOTS];
static uint64_t ids[SLOTS];
static uint64_t seed_used;

/* A message as the fake sender got it: to which slot, and the keys joined with ',' ("" for
 * a null). */
struct message {
    uint32_t slot;
    bool null;
    char keys[256];
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
    message->keys[0] = '\0';
    size_t used = 0;
    for (uint32_t index = 0; index < key_count; index++) {
        int written = snprintf(message->keys + used, sizeof(message->keys) - used, "%s%.*s",
                               index > 0 ? "," : "", (int)keys[index].length,
                               (const char *)keys[index].bytes);
        CHECK(written > 0 && used + (size_t)written < sizeof(message->keys));
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

static struct slice text(const char *bytes)
{
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)strlen(bytes)};
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
    CHECK(tracking.key_count == 0 && tracking.tracking_count == 0);
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
    CHECK(tracking.key_count == 1 && tracking.link_count == 2);
    write_key(2, "b"); /* nobody read it */
    CHECK(message_count == 0);
    write_key(1, "a"); /* NOLOOP: only client 0 */
    CHECK(message_count == 1);
    expect(0, 0, "a");
    CHECK(tracking.key_count == 0 && tracking.link_count == 0);
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
    client_leave(0);
    client_open(0);
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0); /* a new client in slot 0 */
    tracking_disable(&tracking, &states[1]);
    write_key(2, "a");
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
    /* Client 0: "obj" then "user:"; client 1 changed them itself (NOLOOP): nothing. */
    CHECK(message_count == 2);
    expect(0, 0, "object");
    expect(1, 0, "user:1,user:2");
    write_keys(2, keys);
    tracking_deliver(&tracking);
    CHECK(message_count == 5);
    expect(4, 1, "object,other,user:1,user:2");
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
    CHECK(tracking.key_count == 0);
    tracking_verify(&tracking);
}

static void check_limits(void)
{
    reset_all();
    tracking_enable(&tracking, &states[0], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[1], 0, 0, NULL, 0);
    tracking_enable(&tracking, &states[2], 0, 0, NULL, 0);
    char key[96];
    /* More keys than the table holds, each read by three clients: more links than the
     * pool holds too. Every eviction is an invalidation. */
    uint32_t reads = 0;
    for (uint32_t number = 0; number < TRACKING_KEYS_MAX + 500; number++) {
        bool long_name = number % 97 == 0;
        snprintf(key, sizeof(key), long_name ? "%060u-a-long-name" : "k%u", number);
        for (uint32_t slot = 0; slot < 3; slot++) {
            read_key(slot, key);
            reads++;
        }
        CHECK(tracking.key_count <= TRACKING_KEYS_MAX);
        CHECK(tracking.link_count <= TRACKING_LINKS_MAX);
    }
    tracking_verify(&tracking);
    CHECK(message_count > 0);
    CHECK(reads == tracking.link_count + message_count);
    uint32_t nulls = 0;
    for (uint32_t at = 0; at < message_count; at++) {
        nulls += messages[at].null ? 1u : 0u;
    }
    CHECK(nulls > 0 && nulls < message_count); /* long names evicted as nulls */
    /* A pending list past its bound: one null per tracking client instead. */
    message_count = 0;
    tracking_command_begin(&tracking, 3, ids[3]);
    for (uint32_t number = 0; number < TRACKING_PENDING_MAX * 2; number++) {
        snprintf(key, sizeof(key), "k%u", TRACKING_KEYS_MAX + 499 - number);
        tracking_touched(&tracking, text(key));
    }
    tracking_command_end(&tracking);
    tracking_deliver(&tracking);
    CHECK(message_count == 3);
    for (uint32_t at = 0; at < message_count; at++) {
        CHECK(messages[at].null);
    }
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
        if (rand() % 2 == 0) {
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
    if (region_map(&region, tracking_plan_bytes(), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_tracking: %s\n", error);
        return 1;
    }
    tracking_init(&tracking, &region, SLOTS, 12345);
    tracking_sender_set(&tracking, fake_send, fake_client, &tracking);
    tracking_verify(&tracking);
    check_normal();
    check_bcast_and_flush();
    check_limits();
    check_random(seed_used);
    int status = check_exit("test_tracking");
    if (status != 0) {
        fprintf(stderr, "test_tracking: seed %llu (KV_SEED replays it)\n",
                (unsigned long long)seed_used);
    }
    region_unmap(&region);
    return status;
}
