/*
 * Cluster commands: CLUSTER and its subcommands, ASKING, READONLY, READWRITE, as Redis 7.0's
 * clusterCommand answers them on one node (cluster.c keeps the state). Without cluster mode
 * every one answers Redis's "This instance has cluster support disabled" (after the
 * subcommand and its arity are checked, as Redis's processCommand checks them first).
 *
 * Every change of the configuration is written to nodes.conf before the reply (Redis writes it
 * before its next event-loop sleep) and the state judged again. CLUSTER MEET starts the
 * cluster bus's handshake (cluster_bus.h); CLUSTER LINKS lists the bus's links and CLUSTER
 * INFO its message counters.
 */
#include "cmd_handlers.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cluster.h"
#include "cluster_bus.h"
#include "heap.h"
#include "keyslot.h"
#include "log.h"
#include "number.h"
#include "redis_param.h"

/* Lines of CLUSTER HELP, as Redis 7.0's. */
static const char *const cluster_help[] = {
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current "
    "node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of "
    "a link",
    "HELP",
    "    Prints this help.",
};

static struct slice text_slice(const char *text)
{
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
}

static void reply_text(struct reply *reply, const char *text)
{
    reply_bulk(reply, text_slice(text));
}

static int64_t now_ms(void)
{
    return clients_clock_ms();
}

/* After a change: nodes.conf written (a failure is fatal, as Redis's clusterSaveConfigOrDie)
 * and the state judged. */
static void cluster_changed(void)
{
    int error = cluster_save();
    if (error != 0) {
        /* Redis's clusterSaveConfigOrDie: a node must not serve a configuration it could not
         * keep (another node may act on what it announced). */
        log_error("Fatal: can't update cluster config file: %s", strerror(-error));
        exit(1);
    }
    cluster_state_update(now_ms());
}

/* Redis's getSlotOrReply: an integer in [0, 16384); false after the error. */
static bool slot_parse(struct cmd_context *context, struct slice text, uint32_t *slot)
{
    int64_t value = 0;
    if (!number_parse_int64(text.bytes, text.length, &value) || value < 0 ||
        value >= (int64_t)KEYSLOT_COUNT) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_SLOT_INVALID_RANGE);
        return false;
    }
    *slot = (uint32_t)value;
    return true;
}

/* The node a command names by id, or CLUSTER_NODE_NONE. */
static uint32_t node_named(struct slice name)
{
    return cluster_node_find(name.bytes, name.length);
}

static bool node_is_replica(uint32_t index)
{
    return (cluster_node_at(index)->flags & CLUSTER_FLAG_SLAVE) != 0;
}

/* ---- descriptions ---- */

struct text_sink {
    struct reply *reply; /* NULL: count only */
    uint64_t length;
};

static void sink_add(void *context, const char *bytes, size_t length)
{
    struct text_sink *sink = context;
    sink->length += length;
    if (sink->reply != NULL) {
        reply_raw(sink->reply, bytes, (uint32_t)length);
    }
}

/* CLUSTER NODES: the description as verbatim text, measured first. */
static void cluster_nodes(struct cmd_context *context)
{
    struct text_sink count = {0};
    cluster_describe(sink_add, &count);
    reply_verbatim_header(&context->reply, count.length, "txt");
    struct text_sink write = {.reply = &context->reply};
    cluster_describe(sink_add, &write);
    KV_ASSERT(write.length == count.length);
    reply_raw(&context->reply, "\r\n", 2);
}

/* One node's line as a bulk string (CLUSTER REPLICAS), measured first. */
static void reply_node_line(struct cmd_context *context, uint32_t index)
{
    struct text_sink count = {0};
    cluster_describe_node(index, sink_add, &count);
    char head[32];
    int head_bytes = snprintf(head, sizeof(head), "$%" PRIu64 "\r\n", count.length);
    KV_ASSERT(head_bytes > 0 && (size_t)head_bytes < sizeof(head));
    reply_raw(&context->reply, head, (uint32_t)head_bytes);
    struct text_sink write = {.reply = &context->reply};
    cluster_describe_node(index, sink_add, &write);
    reply_raw(&context->reply, "\r\n", 2);
}

static const char *endpoint_of(const struct cluster_node *node)
{
    return cluster_endpoint((uint32_t)(node - cluster_node_at(0)));
}

static void cluster_info(struct cmd_context *context)
{
    uint32_t assigned = 0;
    uint32_t pfail = 0;
    uint32_t fail = 0;
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        uint32_t owner = cluster_slot_owner(slot);
        if (owner == CLUSTER_NODE_NONE) {
            continue;
        }
        assigned++;
        uint32_t flags = cluster_node_at(owner)->flags;
        fail += (flags & CLUSTER_FLAG_FAIL) ? 1 : 0;
        pfail += !(flags & CLUSTER_FLAG_FAIL) && (flags & CLUSTER_FLAG_PFAIL) ? 1 : 0;
    }
    bool ok = cluster_state_ok(now_ms());
    const struct cluster_node *myself = cluster_node_at(cluster_myself());
    uint64_t my_epoch = myself->config_epoch;
    if ((myself->flags & CLUSTER_FLAG_SLAVE) && myself->master_index != CLUSTER_NODE_NONE) {
        my_epoch = cluster_node_at(myself->master_index)->config_epoch;
    }
    char text[4096];
    int length = snprintf(
        text, sizeof(text),
        "cluster_state:%s\r\ncluster_slots_assigned:%u\r\ncluster_slots_ok:%u\r\n"
        "cluster_slots_pfail:%u\r\ncluster_slots_fail:%u\r\ncluster_known_nodes:%u\r\n"
        "cluster_size:%u\r\ncluster_current_epoch:%" PRIu64 "\r\ncluster_my_epoch:%" PRIu64
        "\r\n",
        ok ? "ok" : "fail", assigned, assigned - pfail - fail, pfail, fail, cluster_node_count(),
        cluster_size(), cluster_current_epoch(), my_epoch);
    KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
    /* The bus's messages by type, then their totals, as Redis prints them (types with none
     * are left out). Bounded by the types: 2 * 11 lines of at most 64 bytes. */
    for (uint32_t pass = 0; pass < 2; pass++) {
        uint64_t total = 0;
        for (uint32_t type = 0; type < CLUSTER_BUS_TYPE_COUNT; type++) {
            uint64_t count = pass == 0 ? cluster_bus_stats_sent(type)
                                       : cluster_bus_stats_received(type);
            if (count == 0) {
                continue;
            }
            total += count;
            length += snprintf(text + length, sizeof(text) - (size_t)length,
                               "cluster_stats_messages_%s_%s:%" PRIu64 "\r\n",
                               cluster_bus_type_name(type), pass == 0 ? "sent" : "received",
                               count);
        }
        length += snprintf(text + length, sizeof(text) - (size_t)length,
                           "cluster_stats_messages_%s:%" PRIu64 "\r\n",
                           pass == 0 ? "sent" : "received", total);
    }
    length += snprintf(text + length, sizeof(text) - (size_t)length,
                       "total_cluster_links_buffer_limit_exceeded:0\r\n");
    KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
    reply_verbatim(&context->reply, (struct slice){.bytes = (const uint8_t *)text,
                                                   .length = (uint32_t)length},
                   "txt");
}

/* Redis's addNodeToNodeReply: [endpoint, port, id, {ip|hostname}]. */
static void reply_node_entry(struct cmd_context *context, const struct cluster_node *node)
{
    int32_t row = redis_param_find("cluster-preferred-endpoint-type", 31);
    KV_ASSERT(row >= 0);
    const char *type = redis_param_value((uint32_t)row);
    bool by_ip = strcmp(type, "ip") == 0;
    bool by_hostname = strcmp(type, "hostname") == 0;
    reply_array(&context->reply, 4);
    if (by_ip || by_hostname) {
        reply_text(&context->reply, endpoint_of(node));
    } else {
        reply_null(&context->reply);
    }
    reply_integer(&context->reply, node->port);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)node->name,
                                               .length = CLUSTER_NAME_BYTES});
    bool with_hostname = !by_hostname && node->hostname[0] != '\0';
    reply_map(&context->reply, (by_ip ? 0u : 1u) + (with_hostname ? 1u : 0u));
    if (!by_ip) {
        reply_text(&context->reply, "ip");
        reply_text(&context->reply, node->ip);
    }
    if (with_hostname) {
        reply_text(&context->reply, "hostname");
        reply_text(&context->reply, node->hostname);
    }
}

/* The runs of the slot map: (start, end, node) for each run of one node, in slot order. */
struct slot_run {
    uint32_t start;
    uint32_t end;
    uint32_t node;
};

/* The next run at or after *slot; false past the last. */
static bool slot_run_next(uint32_t *slot, struct slot_run *run)
{
    /* Bounded by the slots. */
    while (*slot < KEYSLOT_COUNT && cluster_slot_owner(*slot) == CLUSTER_NODE_NONE) {
        (*slot)++;
    }
    if (*slot == KEYSLOT_COUNT) {
        return false;
    }
    run->start = *slot;
    run->node = cluster_slot_owner(*slot);
    while (*slot < KEYSLOT_COUNT && cluster_slot_owner(*slot) == run->node) {
        (*slot)++;
    }
    run->end = *slot - 1;
    return true;
}

/* CLUSTER SLOTS: a run per entry, its master (kv lists no replicas: it knows no replica's
 * offset, and Redis lists only replicas with one). */
static void cluster_slots(struct cmd_context *context)
{
    uint32_t count = 0;
    struct slot_run run;
    uint32_t slot = 0;
    /* Bounded by the slots, twice. */
    while (slot_run_next(&slot, &run)) {
        count++;
    }
    reply_array(&context->reply, count);
    slot = 0;
    while (slot_run_next(&slot, &run)) {
        reply_array(&context->reply, 3);
        reply_integer(&context->reply, run.start);
        reply_integer(&context->reply, run.end);
        reply_node_entry(context, cluster_node_at(run.node));
    }
}

/* Redis's addNodeDetailsToShardReply. */
static void reply_shard_node(struct cmd_context *context, const struct cluster_node *node)
{
    bool replica = (node->flags & CLUSTER_FLAG_SLAVE) != 0;
    bool with_hostname = node->hostname[0] != '\0';
    uint32_t pairs = 6u + (node->port != 0 ? 1u : 0u) + (with_hostname ? 1u : 0u);
    reply_map(&context->reply, pairs);
    reply_text(&context->reply, "id");
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)node->name,
                                               .length = CLUSTER_NAME_BYTES});
    if (node->port != 0) {
        reply_text(&context->reply, "port");
        reply_integer(&context->reply, node->port);
    }
    reply_text(&context->reply, "ip");
    reply_text(&context->reply, node->ip);
    reply_text(&context->reply, "endpoint");
    reply_text(&context->reply, endpoint_of(node));
    if (with_hostname) {
        reply_text(&context->reply, "hostname");
        reply_text(&context->reply, node->hostname);
    }
    reply_text(&context->reply, "role");
    reply_text(&context->reply, replica ? "replica" : "master");
    reply_text(&context->reply, "replication-offset");
    reply_integer(&context->reply, 0); /* kv does not replicate: no offset moves */
    reply_text(&context->reply, "health");
    const char *health = (node->flags & CLUSTER_FLAG_FAIL) ? "fail"
                         : replica                          ? "loading"
                                                            : "online";
    reply_text(&context->reply, health);
    (void)pairs;
}

/* One master's shard: its slot runs and its nodes (itself, then its replicas). */
static void reply_shard(struct cmd_context *context, uint32_t master)
{
    reply_map(&context->reply, 2);
    reply_text(&context->reply, "slots");
    uint32_t runs = 0;
    struct slot_run run;
    uint32_t slot = 0;
    /* Bounded by the slots, twice. */
    while (slot_run_next(&slot, &run)) {
        runs += run.node == master ? 1u : 0u;
    }
    reply_array(&context->reply, 2u * runs);
    slot = 0;
    while (slot_run_next(&slot, &run)) {
        if (run.node == master) {
            reply_integer(&context->reply, run.start);
            reply_integer(&context->reply, run.end);
        }
    }
    reply_text(&context->reply, "nodes");
    uint32_t members = 1;
    /* Bounded by the table, twice. */
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *node = cluster_node_at(index);
        members += node->used && node->master_index == master && node_is_replica(index) ? 1 : 0;
    }
    reply_array(&context->reply, members);
    reply_shard_node(context, cluster_node_at(master));
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *node = cluster_node_at(index);
        if (node->used && node->master_index == master && node_is_replica(index)) {
            reply_shard_node(context, node);
        }
    }
}

static void cluster_shards(struct cmd_context *context)
{
    uint32_t masters = 0;
    /* Bounded by the table, twice. */
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *node = cluster_node_at(index);
        masters += node->used && (node->flags & CLUSTER_FLAG_MASTER) ? 1 : 0;
    }
    reply_array(&context->reply, masters);
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *node = cluster_node_at(index);
        if (node->used && (node->flags & CLUSTER_FLAG_MASTER)) {
            reply_shard(context, index);
        }
    }
}

/* ---- slot assignment ---- */

/* Redis's checkSlotAssignmentsOrReply for [start, end]: each slot busy (adding) or served
 * (deleting), named once; `seen` marks the slots named so far. */
static bool slots_check(struct cmd_context *context, uint8_t *seen, bool del, uint32_t start,
                        uint32_t end)
{
    /* Bounded by the range. */
    for (uint32_t slot = start; slot <= end; slot++) {
        bool served = cluster_slot_owner(slot) != CLUSTER_NODE_NONE;
        if (del && !served) {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SLOT_UNASSIGNED, slot);
            return false;
        }
        if (!del && served) {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SLOT_BUSY, slot);
            return false;
        }
        if (seen[slot]++ == 1) {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SLOT_TWICE, slot);
            return false;
        }
    }
    return true;
}

/* Redis's clusterUpdateSlots: the marked slots are myself's now (their import is over), or
 * nobody's. */
static void slots_apply(const uint8_t *seen, bool del)
{
    cluster_state_update(now_ms());
    uint32_t myself = cluster_myself();
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        if (seen[slot] == 0) {
            continue;
        }
        cluster_slot_importing_set(slot, CLUSTER_NODE_NONE);
        if (del) {
            cluster_slot_unassign(slot);
        } else {
            cluster_slot_assign(slot, myself);
        }
    }
    cluster_changed();
}

/* The slots a command names, marked once each (static: one command at a time). */
static uint8_t cluster_slots_seen[KEYSLOT_COUNT];

/* ADDSLOTS / DELSLOTS slot...: every argument parsed first, then checked. */
static void cluster_addslots(struct cmd_context *context, const struct slice *args,
                             uint32_t arg_count, bool del)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t slot = 0;
    /* Bounded by the arguments, twice. */
    for (uint32_t at = 2; at < arg_count; at++) {
        if (!slot_parse(context, args[at], &slot)) {
            return;
        }
    }
    memset(cluster_slots_seen, 0, sizeof(cluster_slots_seen));
    for (uint32_t at = 2; at < arg_count; at++) {
        bool parsed = slot_parse(context, args[at], &slot);
        KV_ASSERT(parsed);
        if (!slots_check(context, cluster_slots_seen, del, slot, slot)) {
            return;
        }
    }
    slots_apply(cluster_slots_seen, del);
    reply_ok(&context->reply);
}

/* ADDSLOTSRANGE / DELSLOTSRANGE start end ... */
static void cluster_addslotsrange(struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count, bool del)
{
    KV_ASSERT(arg_count >= 4);
    if (arg_count % 2 == 1) {
        reply_error_arity(&context->reply, del ? "cluster|delslotsrange" : "cluster|addslotsrange");
        return;
    }
    memset(cluster_slots_seen, 0, sizeof(cluster_slots_seen));
    /* Bounded by the arguments, two at a time. */
    for (uint32_t at = 2; at + 1 < arg_count; at += 2) {
        uint32_t start = 0;
        uint32_t end = 0;
        if (!slot_parse(context, args[at], &start) || !slot_parse(context, args[at + 1], &end)) {
            return;
        }
        if (start > end) {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SLOT_RANGE_ORDER, start, end);
            return;
        }
        if (!slots_check(context, cluster_slots_seen, del, start, end)) {
            return;
        }
    }
    slots_apply(cluster_slots_seen, del);
    reply_ok(&context->reply);
}

static void cluster_flushslots(struct cmd_context *context)
{
    if (store_db_key_count(context->store, 0) != 0) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_FLUSHSLOTS_NOT_EMPTY);
        return;
    }
    cluster_state_update(now_ms());
    uint32_t myself = cluster_myself();
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        if (cluster_slot_owner(slot) == myself) {
            cluster_slot_unassign(slot);
        }
    }
    cluster_changed();
    reply_ok(&context->reply);
}

/* SETSLOT slot NODE id. */
static bool setslot_node(struct cmd_context *context, uint32_t slot, struct slice name)
{
    uint32_t node = node_named(name);
    if (node == CLUSTER_NODE_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN, &name);
        return false;
    }
    if (node_is_replica(node)) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_TARGET_NOT_MASTER);
        return false;
    }
    uint32_t myself = cluster_myself();
    uint64_t keys = store_slot_key_count(context->store, slot);
    if (cluster_slot_owner(slot) == myself && node != myself && keys != 0) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SLOT_HAS_KEYS, slot);
        return false;
    }
    if (keys == 0 && cluster_slot_migrating(slot) != CLUSTER_NODE_NONE) {
        cluster_slot_migrating_set(slot, CLUSTER_NODE_NONE);
    }
    cluster_slot_unassign(slot);
    cluster_slot_assign(slot, node);
    /* Redis turns a master left without slots into the new owner's replica
     * (cluster-allow-replica-migration): kv does not replicate, and stays a master. */
    if (node == myself && cluster_slot_importing(slot) != CLUSTER_NODE_NONE) {
        if (cluster_bump_epoch()) {
            log_warn("configEpoch updated after importing slot %u", slot);
        }
        cluster_slot_importing_set(slot, CLUSTER_NODE_NONE);
    }
    return true;
}

/* SETSLOT slot MIGRATING|IMPORTING id. */
static bool setslot_open(struct cmd_context *context, uint32_t slot, struct slice name,
                         bool migrating)
{
    bool mine = cluster_slot_owner(slot) == cluster_myself();
    if (migrating && !mine) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NOT_OWNER, slot);
        return false;
    }
    if (!migrating && mine) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_ALREADY_OWNER, slot);
        return false;
    }
    uint32_t node = node_named(name);
    if (node == CLUSTER_NODE_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN_SETSLOT, &name);
        return false;
    }
    if (node_is_replica(node)) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_TARGET_NOT_MASTER);
        return false;
    }
    if (migrating) {
        cluster_slot_migrating_set(slot, node);
    } else {
        cluster_slot_importing_set(slot, node);
    }
    return true;
}

static void cluster_setslot(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 4);
    if (node_is_replica(cluster_myself())) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_SETSLOT_REPLICA);
        return;
    }
    uint32_t slot = 0;
    if (!slot_parse(context, args[2], &slot)) {
        return;
    }
    cluster_state_update(now_ms());
    bool done = false;
    if (cmd_arg_is(args[3], "migrating") && arg_count == 5) {
        done = setslot_open(context, slot, args[4], true);
    } else if (cmd_arg_is(args[3], "importing") && arg_count == 5) {
        done = setslot_open(context, slot, args[4], false);
    } else if (cmd_arg_is(args[3], "stable") && arg_count == 4) {
        cluster_slot_importing_set(slot, CLUSTER_NODE_NONE);
        cluster_slot_migrating_set(slot, CLUSTER_NODE_NONE);
        done = true;
    } else if (cmd_arg_is(args[3], "node") && arg_count == 5) {
        done = setslot_node(context, slot, args[4]);
    } else {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_SETSLOT_SYNTAX);
    }
    if (done) {
        cluster_changed();
        reply_ok(&context->reply);
    }
}

/* ---- keys ---- */

static void cluster_countkeysinslot(struct cmd_context *context, const struct slice *args)
{
    int64_t slot = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &slot)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (slot < 0 || slot >= (int64_t)KEYSLOT_COUNT) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_SLOT_INVALID);
        return;
    }
    reply_integer(&context->reply, (int64_t)store_slot_key_count(context->store, (uint32_t)slot));
}

/* GETKEYSINSLOT slot count: the slot's keys in the index's order; the references go through
 * a heap array for the reply's time (no room: Redis's OOM error). */
static void cluster_getkeysinslot(struct cmd_context *context, const struct slice *args)
{
    int64_t slot = 0;
    int64_t count = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &slot) ||
        !number_parse_int64(args[3].bytes, args[3].length, &count)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (slot < 0 || slot >= (int64_t)KEYSLOT_COUNT || count < 0) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_SLOT_OR_COUNT_INVALID);
        return;
    }
    uint64_t in_slot = store_slot_key_count(context->store, (uint32_t)slot);
    uint64_t wanted = (uint64_t)count < in_slot ? (uint64_t)count : in_slot;
    KV_ASSERT(wanted <= UINT32_MAX); /* the index counts a slot's keys in 32 bits */
    if (wanted == 0) {
        reply_array(&context->reply, 0);
        return;
    }
    uint32_t *refs = heap_alloc(context->store->heap, wanted * sizeof(uint32_t));
    if (refs == NULL) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    uint32_t got = store_slot_keys(context->store, (uint32_t)slot, (uint32_t)wanted, refs);
    KV_ASSERT(got == wanted);
    reply_array(&context->reply, got);
    /* Bounded by the keys asked for. */
    for (uint32_t index = 0; index < got; index++) {
        reply_bulk(&context->reply, store_key_name(store_key(context->store, refs[index])));
    }
    heap_release(context->store->heap, refs);
}

/* ---- nodes and epochs ---- */

static void cluster_forget(struct cmd_context *context, struct slice name)
{
    uint32_t node = node_named(name);
    uint32_t myself = cluster_myself();
    if (node == CLUSTER_NODE_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN, &name);
    } else if (node == myself) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_FORGET_MYSELF);
    } else if (node_is_replica(myself) && cluster_node_at(myself)->master_index == node) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_FORGET_MASTER);
    } else {
        cluster_state_update(now_ms());
        cluster_node_remove(node);
        cluster_changed();
        reply_ok(&context->reply);
    }
}

static void cluster_replicate(struct cmd_context *context, struct slice name)
{
    uint32_t node = node_named(name);
    uint32_t myself = cluster_myself();
    if (node == CLUSTER_NODE_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN, &name);
    } else if (node == myself) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_REPLICATE_MYSELF);
    } else if (node_is_replica(node)) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_REPLICATE_REPLICA);
    } else if (!node_is_replica(myself) && (cluster_node_at(myself)->slot_count != 0 ||
                                            store_db_key_count(context->store, 0) != 0)) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_REPLICATE_NOT_EMPTY);
    } else {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_REPLICATE_UNSUPPORTED);
    }
}

static void cluster_replicas(struct cmd_context *context, struct slice name)
{
    uint32_t node = node_named(name);
    if (node == CLUSTER_NODE_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN, &name);
        return;
    }
    if (node_is_replica(node)) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_NOT_MASTER);
        return;
    }
    uint32_t count = 0;
    /* Bounded by the table, twice. */
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *other = cluster_node_at(index);
        count += other->used && other->master_index == node && node_is_replica(index) ? 1 : 0;
    }
    reply_array(&context->reply, count);
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *other = cluster_node_at(index);
        if (other->used && other->master_index == node && node_is_replica(index)) {
            reply_node_line(context, index);
        }
    }
}

static void cluster_set_config_epoch(struct cmd_context *context, struct slice text)
{
    int64_t epoch = 0;
    if (!number_parse_int64(text.bytes, text.length, &epoch)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    uint32_t myself = cluster_myself();
    if (epoch < 0) {
        char digits[NUMBER_INT64_BYTES + 1];
        snprintf(digits, sizeof(digits), "%" PRId64, epoch);
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_EPOCH_INVALID, digits);
    } else if (cluster_node_count() > 1) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_EPOCH_OTHERS);
    } else if (cluster_node_at(myself)->config_epoch != 0) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_EPOCH_NONZERO);
    } else {
        cluster_config_epoch_set(myself, (uint64_t)epoch);
        log_warn("configEpoch set to %" PRId64 " via CLUSTER SET-CONFIG-EPOCH", epoch);
        if (cluster_current_epoch() < (uint64_t)epoch) {
            cluster_current_epoch_set((uint64_t)epoch);
        }
        cluster_changed();
        reply_ok(&context->reply);
    }
}

static void cluster_bumpepoch(struct cmd_context *context)
{
    bool bumped = cluster_bump_epoch();
    if (bumped) {
        cluster_changed();
    }
    char text[48];
    snprintf(text, sizeof(text), "%s %" PRIu64, bumped ? "BUMPED" : "STILL",
             cluster_node_at(cluster_myself())->config_epoch);
    reply_simple(&context->reply, text);
}

static void cluster_reset_command(struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    bool hard = false;
    if (arg_count == 3) {
        if (cmd_arg_is(args[2], "hard")) {
            hard = true;
        } else if (!cmd_arg_is(args[2], "soft")) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    if (!node_is_replica(cluster_myself()) &&
        store_db_key_count(context->store, context->client->db_index) != 0) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_RESET_KEYS);
        return;
    }
    cluster_state_update(now_ms());
    cluster_reset(hard);
    cluster_changed();
    reply_ok(&context->reply);
}

static void cluster_failover(struct cmd_context *context, const struct slice *args,
                             uint32_t arg_count)
{
    if (arg_count == 3 && !cmd_arg_is(args[2], "force") && !cmd_arg_is(args[2], "takeover")) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    /* kv is always a master (it does not replicate). */
    reply_error(&context->reply, REPLY_ERROR_CLUSTER_FAILOVER_MASTER);
}

/* MEET ip port [bus-port]: Redis's checks (clusterStartHandshake's address and ports), then
 * the bus's handshake (a handshake already in progress to that address: OK all the same). */
static void cluster_meet(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    int64_t port = 0;
    int64_t bus_port = 0;
    if (!number_parse_int64(args[3].bytes, args[3].length, &port)) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_MEET_PORT, &args[3]);
        return;
    }
    if (arg_count == 5 && !number_parse_int64(args[4].bytes, args[4].length, &bus_port)) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_MEET_BUS_PORT, &args[4]);
        return;
    }
    bus_port = arg_count == 5 ? bus_port : port + 10000;
    char ip[CLUSTER_HOSTNAME_BYTES];
    uint32_t ip_bytes = args[2].length < sizeof(ip) - 1 ? args[2].length : sizeof(ip) - 1;
    memcpy(ip, args[2].bytes, ip_bytes);
    ip[ip_bytes] = '\0';
    uint8_t address[16];
    bool valid = ip_bytes == args[2].length && (inet_pton(AF_INET, ip, address) == 1 ||
                                                inet_pton(AF_INET6, ip, address) == 1);
    valid = valid && port > 0 && port <= 65535 && bus_port > 0 && bus_port <= 65535;
    if (!valid) {
        reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_MEET_ADDRESS, &args[2], &args[3]);
        return;
    }
    (void)cluster_bus_meet(ip, (uint32_t)port, (uint32_t)bus_port, now_ms());
    reply_ok(&context->reply);
}

/* LINKS: each node's outbound link ("to") and inbound one ("from"), as Redis's
 * addReplyClusterLinksDescription: links not yet tied to a node are left out. */
static bool link_listed(const struct cluster_bus_link *link)
{
    if (link->state == CLUSTER_BUS_LINK_FREE || link->state == CLUSTER_BUS_LINK_CLOSING ||
        link->node_index == CLUSTER_NODE_NONE || link->node_index >= cluster_node_slots()) {
        return false;
    }
    const struct cluster_node *node = cluster_node_at(link->node_index);
    return node->used && memcmp(node->name, link->node_name, CLUSTER_NAME_BYTES) == 0;
}

static void cluster_links(struct cmd_context *context)
{
    if (!cluster_bus_on()) {
        reply_array(&context->reply, 0);
        return;
    }
    uint32_t count = 0;
    /* Bounded by the links, twice: a count, then the entries. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        count += link_listed(cluster_bus_link_at(index)) ? 1 : 0;
    }
    reply_array(&context->reply, count);
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        const struct cluster_bus_link *link = cluster_bus_link_at(index);
        if (!link_listed(link)) {
            continue;
        }
        reply_map(&context->reply, 6);
        reply_text(&context->reply, "direction");
        reply_text(&context->reply, link->inbound ? "from" : "to");
        reply_text(&context->reply, "node");
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)link->node_name,
                                                   .length = CLUSTER_NAME_BYTES});
        reply_text(&context->reply, "create-time");
        reply_integer(&context->reply, link->create_ms);
        reply_text(&context->reply, "events");
        reply_text(&context->reply, link->state == CLUSTER_BUS_LINK_OPEN
                                        ? (link->out_length > 0 ? "rw" : "r")
                                        : "w");
        reply_text(&context->reply, "send-buffer-allocated");
        reply_integer(&context->reply, CLUSTER_BUS_OUT_BYTES);
        reply_text(&context->reply, "send-buffer-used");
        reply_integer(&context->reply, link->out_length);
    }
}

/* ---- dispatch ---- */

/* The subcommands, with Redis 7.0's arities (the name counts as the first argument). */
enum cluster_sub {
    SUB_ADDSLOTS, SUB_ADDSLOTSRANGE, SUB_BUMPEPOCH, SUB_COUNT_FAILURE_REPORTS,
    SUB_COUNTKEYSINSLOT, SUB_DELSLOTS, SUB_DELSLOTSRANGE, SUB_FAILOVER, SUB_FLUSHSLOTS,
    SUB_FORGET, SUB_GETKEYSINSLOT, SUB_HELP, SUB_INFO, SUB_KEYSLOT, SUB_LINKS, SUB_MEET,
    SUB_MYID, SUB_NODES, SUB_REPLICAS, SUB_REPLICATE, SUB_RESET, SUB_SAVECONFIG,
    SUB_SET_CONFIG_EPOCH, SUB_SETSLOT, SUB_SHARDS, SUB_SLAVES, SUB_SLOTS,
};

struct cluster_subcommand {
    const char *name;      /* lower case */
    const char *full_name; /* as arity errors name it */
    int arity;
};

static const struct cluster_subcommand cluster_subcommands[] = {
    [SUB_ADDSLOTS] = {"addslots", "cluster|addslots", -3},
    [SUB_ADDSLOTSRANGE] = {"addslotsrange", "cluster|addslotsrange", -4},
    [SUB_BUMPEPOCH] = {"bumpepoch", "cluster|bumpepoch", 2},
    [SUB_COUNT_FAILURE_REPORTS] = {"count-failure-reports", "cluster|count-failure-reports", 3},
    [SUB_COUNTKEYSINSLOT] = {"countkeysinslot", "cluster|countkeysinslot", 3},
    [SUB_DELSLOTS] = {"delslots", "cluster|delslots", -3},
    [SUB_DELSLOTSRANGE] = {"delslotsrange", "cluster|delslotsrange", -4},
    [SUB_FAILOVER] = {"failover", "cluster|failover", -2},
    [SUB_FLUSHSLOTS] = {"flushslots", "cluster|flushslots", 2},
    [SUB_FORGET] = {"forget", "cluster|forget", 3},
    [SUB_GETKEYSINSLOT] = {"getkeysinslot", "cluster|getkeysinslot", 4},
    [SUB_HELP] = {"help", "cluster|help", 2},
    [SUB_INFO] = {"info", "cluster|info", 2},
    [SUB_KEYSLOT] = {"keyslot", "cluster|keyslot", 3},
    [SUB_LINKS] = {"links", "cluster|links", 2},
    [SUB_MEET] = {"meet", "cluster|meet", -4},
    [SUB_MYID] = {"myid", "cluster|myid", 2},
    [SUB_NODES] = {"nodes", "cluster|nodes", 2},
    [SUB_REPLICAS] = {"replicas", "cluster|replicas", 3},
    [SUB_REPLICATE] = {"replicate", "cluster|replicate", 3},
    [SUB_RESET] = {"reset", "cluster|reset", -2},
    [SUB_SAVECONFIG] = {"saveconfig", "cluster|saveconfig", 2},
    [SUB_SET_CONFIG_EPOCH] = {"set-config-epoch", "cluster|set-config-epoch", 3},
    [SUB_SETSLOT] = {"setslot", "cluster|setslot", -4},
    [SUB_SHARDS] = {"shards", "cluster|shards", 2},
    [SUB_SLAVES] = {"slaves", "cluster|slaves", 3},
    [SUB_SLOTS] = {"slots", "cluster|slots", 2},
};

#define CLUSTER_SUB_COUNT (sizeof(cluster_subcommands) / sizeof(cluster_subcommands[0]))

/* The subcommand args[1] names, or CLUSTER_SUB_COUNT. */
static uint32_t sub_find(struct slice name)
{
    /* Bounded by the subcommands. */
    for (uint32_t index = 0; index < CLUSTER_SUB_COUNT; index++) {
        if (cmd_arg_is(name, cluster_subcommands[index].name)) {
            return index;
        }
    }
    return CLUSTER_SUB_COUNT;
}

/* The subcommands that read or show the configuration. */
static bool cluster_run_read(struct cmd_context *context, uint32_t sub, const struct slice *args)
{
    switch (sub) {
    case SUB_HELP:
        cmd_reply_help(&context->reply, cluster_help, sizeof(cluster_help) / sizeof(cluster_help[0]));
        return true;
    case SUB_INFO:
        cluster_info(context);
        return true;
    case SUB_NODES:
        cluster_nodes(context);
        return true;
    case SUB_MYID:
        reply_bulk(&context->reply,
                   (struct slice){.bytes = (const uint8_t *)cluster_node_at(cluster_myself())->name,
                                  .length = CLUSTER_NAME_BYTES});
        return true;
    case SUB_SLOTS:
        cluster_slots(context);
        return true;
    case SUB_SHARDS:
        cluster_shards(context);
        return true;
    case SUB_LINKS:
        cluster_links(context);
        return true;
    case SUB_KEYSLOT:
        reply_integer(&context->reply, keyslot_of(args[2].bytes, args[2].length));
        return true;
    case SUB_COUNTKEYSINSLOT:
        cluster_countkeysinslot(context, args);
        return true;
    case SUB_GETKEYSINSLOT:
        cluster_getkeysinslot(context, args);
        return true;
    case SUB_REPLICAS:
    case SUB_SLAVES:
        cluster_replicas(context, args[2]);
        return true;
    case SUB_COUNT_FAILURE_REPORTS:
        if (node_named(args[2]) == CLUSTER_NODE_NONE) {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_NODE_UNKNOWN, &args[2]);
        } else {
            reply_integer(&context->reply,
                          cluster_bus_failure_reports(node_named(args[2]), now_ms()));
        }
        return true;
    default:
        return false;
    }
}

/* The subcommands that change it. */
static void cluster_run_write(struct cmd_context *context, uint32_t sub, const struct slice *args,
                              uint32_t arg_count)
{
    switch (sub) {
    case SUB_ADDSLOTS:
    case SUB_DELSLOTS:
        cluster_addslots(context, args, arg_count, sub == SUB_DELSLOTS);
        break;
    case SUB_ADDSLOTSRANGE:
    case SUB_DELSLOTSRANGE:
        cluster_addslotsrange(context, args, arg_count, sub == SUB_DELSLOTSRANGE);
        break;
    case SUB_FLUSHSLOTS:
        cluster_flushslots(context);
        break;
    case SUB_SETSLOT:
        cluster_setslot(context, args, arg_count);
        break;
    case SUB_BUMPEPOCH:
        cluster_bumpepoch(context);
        break;
    case SUB_SET_CONFIG_EPOCH:
        cluster_set_config_epoch(context, args[2]);
        break;
    case SUB_SAVECONFIG: {
        int error = cluster_save();
        if (error == 0) {
            reply_ok(&context->reply);
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_CLUSTER_SAVECONFIG, strerror(-error));
        }
        break;
    }
    case SUB_FORGET:
        cluster_forget(context, args[2]);
        break;
    case SUB_REPLICATE:
        cluster_replicate(context, args[2]);
        break;
    case SUB_RESET:
        if (arg_count > 3) {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "CLUSTER");
        } else {
            cluster_reset_command(context, args, arg_count);
        }
        break;
    case SUB_FAILOVER:
        if (arg_count > 3) {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "CLUSTER");
        } else {
            cluster_failover(context, args, arg_count);
        }
        break;
    case SUB_MEET:
        if (arg_count > 5) {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "CLUSTER");
        } else {
            cluster_meet(context, args, arg_count);
        }
        break;
    default:
        KV_ASSERT(false); /* every subcommand is read or written */
    }
}

CMD_HANDLER(cmd_cluster)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    uint32_t sub = sub_find(args[1]);
    if (sub == CLUSTER_SUB_COUNT) {
        reply_error_unknown_subcommand(&context->reply, args[1], "CLUSTER");
        return;
    }
    const struct cluster_subcommand *entry = &cluster_subcommands[sub];
    if (!cmd_subcommand_is(context, args, arg_count, entry->name, entry->arity,
                           entry->full_name)) {
        return; /* the arity error is answered */
    }
    if (!cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_DISABLED);
        return;
    }
    cluster_myself_refresh();
    if (!cluster_run_read(context, sub, args)) {
        cluster_run_write(context, sub, args, arg_count);
    }
    KV_ASSERT(context->reply.total > length_before);
}

CMD_HANDLER(cmd_asking)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    if (!cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_DISABLED);
        return;
    }
    context->client->cluster_asking = true;
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_readonly)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    if (!cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_DISABLED);
        return;
    }
    context->client->cluster_readonly = true;
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_readwrite)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    if (!cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_CLUSTER_DISABLED);
        return;
    }
    context->client->cluster_readonly = false;
    reply_ok(&context->reply);
}

static const struct cmd cluster_cmds[] = {
    {"cluster", -2, 0, 0, 0, 0, cmd_cluster},
    {"asking", 1, 0, 0, 0, 0, cmd_asking},
    {"readonly", 1, 0, 0, 0, 0, cmd_readonly},
    {"readwrite", 1, 0, 0, 0, 0, cmd_readwrite},
};

CMD_FAMILY(cmd_family_cluster, "cluster", cluster_cmds);
