/*
 * Client state, one entry per connection slot. Invariants: an entry is in use exactly when
 * its id is non-zero; ids increase; a client's subscription counts match its pub/sub links
 * (pubsub.c keeps them); its transaction's watches are in the watch module. Opening clears
 * the entry, closing gives back everything it held. No I/O, no allocation after init.
 */
#include "client.h"

#include <string.h>

uint64_t clients_plan_bytes(uint32_t slot_count)
{
    return ((uint64_t)slot_count * sizeof(struct client) + 63) & ~63ull;
}

void clients_init(struct clients *clients, struct region *region, uint32_t slot_count,
                  struct watch *watch, struct pubsub *pubsub)
{
    KV_ASSERT(slot_count > 0);
    memset(clients, 0, sizeof(*clients));
    clients->slots = region_carve(region, (uint64_t)slot_count * sizeof(struct client), 64);
    memset(clients->slots, 0, (uint64_t)slot_count * sizeof(struct client));
    clients->slot_count = slot_count;
    clients->watch = watch;
    clients->pubsub = pubsub;
    clients->id_next = 1;
}

struct client *client_open(struct clients *clients, uint32_t slot_index, int64_t now_ms,
                           bool authenticated)
{
    struct client *client = client_at(clients, slot_index);
    KV_ASSERT(client->id == 0);
    memset(client, 0, sizeof(*client));
    client->id = clients->id_next++;
    client->slot_index = slot_index;
    client->authenticated = authenticated;
    client->resp = 2; /* until HELLO 3 */
    client->created_ms = now_ms;
    client->last_command_ms = now_ms;
    txn_init(&client->txn);
    pubsub_client_init(&client->pubsub, slot_index);
    KV_ASSERT(client->id != 0);
    return client;
}

void client_unsubscribe_all(struct clients *clients, struct client *client)
{
    struct slice name;
    /* Bound: the kinds; within each, its count taken before (each step removes one). */
    for (uint32_t kind = 0; kind < PUBSUB_KIND_COUNT; kind++) {
        uint32_t count = pubsub_client_count(&client->pubsub, kind);
        for (uint32_t step = 0; step < count; step++) {
            bool found = pubsub_client_first_kind(clients->pubsub, &client->pubsub, kind, &name);
            KV_ASSERT(found);
            bool removed = pubsub_unsubscribe_kind(clients->pubsub, &client->pubsub, name, kind);
            KV_ASSERT(removed);
        }
    }
    KV_ASSERT(!client_subscribed(client));
}

void client_monitor_start(struct clients *clients, struct client *client)
{
    KV_ASSERT(client->id != 0 && !client->monitor);
    KV_ASSERT(clients->monitor_count < clients->slot_count);
    client->monitor = true;
    client->monitor_prev = 0;
    client->monitor_next = clients->monitor_first;
    if (clients->monitor_first != 0) {
        client_at(clients, clients->monitor_first - 1)->monitor_prev = client->slot_index + 1;
    }
    clients->monitor_first = client->slot_index + 1;
    clients->monitor_count++;
}

void client_monitor_stop(struct clients *clients, struct client *client)
{
    if (!client->monitor) {
        return;
    }
    KV_ASSERT(clients->monitor_count > 0);
    if (client->monitor_prev != 0) {
        client_at(clients, client->monitor_prev - 1)->monitor_next = client->monitor_next;
    } else {
        KV_ASSERT(clients->monitor_first == client->slot_index + 1);
        clients->monitor_first = client->monitor_next;
    }
    if (client->monitor_next != 0) {
        client_at(clients, client->monitor_next - 1)->monitor_prev = client->monitor_prev;
    }
    client->monitor = false;
    client->monitor_next = 0;
    client->monitor_prev = 0;
    clients->monitor_count--;
}

void client_reset(struct clients *clients, struct client *client, bool authenticated)
{
    KV_ASSERT(client->id != 0);
    txn_reset(&client->txn, clients->watch);
    client_unsubscribe_all(clients, client);
    client_monitor_stop(clients, client);
    client->name_length = 0;
    client->lib_name_length = 0;
    client->lib_ver_length = 0;
    client->authenticated = authenticated;
    client->resp = 2; /* as Redis's RESET: back to RESP2 */
    client->db_index = 0; /* and to database 0 */
    client->cluster_asking = false; /* as Redis's clearClientConnectionState */
    client->cluster_readonly = false;
    /* RESET clears CLIENT REPLY OFF (and a SKIP set by this very command: none can be);
     * a skipped RESET stays skipped. */
    if (client->reply_mode != CLIENT_REPLY_SKIP) {
        client->reply_mode = CLIENT_REPLY_ON;
    }
}

void client_close(struct clients *clients, struct client *client)
{
    KV_ASSERT(client->id != 0);
    txn_reset(&client->txn, clients->watch);
    client_unsubscribe_all(clients, client);
    client_monitor_stop(clients, client);
    uint32_t slot_index = client->slot_index;
    memset(client, 0, sizeof(*client));
    client->slot_index = slot_index;
    KV_ASSERT(client->id == 0);
}

void client_verify(const struct clients *clients, const struct client *client)
{
    KV_ASSERT(client >= clients->slots && client < clients->slots + clients->slot_count);
    KV_ASSERT(client->id < clients->id_next);
    KV_ASSERT(client->name_length <= CLIENT_NAME_BYTES_MAX);
    KV_ASSERT(client->lib_name_length <= CLIENT_LIB_BYTES_MAX);
    KV_ASSERT(client->lib_ver_length <= CLIENT_LIB_BYTES_MAX);
    KV_ASSERT(client->id == 0 || client->resp == 2 || client->resp == 3);
    if (client->id == 0) {
        KV_ASSERT(!client_subscribed(client) && !client->txn.active && !client->monitor);
        return;
    }
    KV_ASSERT(client->slot_index == (uint32_t)(client - clients->slots));
    /* A monitor's links name live monitors that link back to it. */
    KV_ASSERT(client->monitor || (client->monitor_next == 0 && client->monitor_prev == 0));
    if (client->monitor) {
        KV_ASSERT(client->monitor_prev != 0 ||
                  clients->monitor_first == client->slot_index + 1);
        if (client->monitor_next != 0) {
            const struct client *next = client_at(clients, client->monitor_next - 1);
            KV_ASSERT(next->monitor && next->monitor_prev == client->slot_index + 1);
        }
    }
    KV_ASSERT(client->pubsub.conn_slot == client->slot_index);
    pubsub_client_verify(clients->pubsub, &client->pubsub);
}
