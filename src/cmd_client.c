/*
 * Connection commands: AUTH, HELLO, RESET, and CLIENT (ID, SETNAME, GETNAME, SETINFO, LIST,
 * INFO, KILL, NO-EVICT, NO-TOUCH, HELP). Replies and errors are Redis 7.0's (SETINFO, which
 * 7.0 lacks, answers as 7.2 does). A client's name and library live in its client state
 * (client.h), bounded by CLIENT_NAME_BYTES_MAX and CLIENT_LIB_BYTES_MAX; CLIENT LIST reads
 * the byte counts of each client's connection. HELLO switches the client between RESP2 and
 * RESP3 (client.resp); every later writer of its output takes that protocol.
 */
#include "cmd_handlers.h"

#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "client.h"
#include "conn.h"
#include "number.h"
#include "tracking.h"

/* The Redis version kv answers as (HELLO, INFO). */
#define CLIENT_REDIS_VERSION "7.0.15"

/* Compares a password with requirepass in time that does not depend on where they differ. */
static bool password_matches(const struct config *config, struct slice password)
{
    const char *expected = config->requirepass;
    size_t expected_length = strlen(expected);
    KV_ASSERT(expected_length < CONFIG_PASSWORD_BYTES_MAX); /* NUL-terminated in its array */
    KV_ASSERT(password.bytes != NULL || password.length == 0);
    uint32_t difference = (uint32_t)(expected_length ^ password.length);
    for (uint32_t index = 0; index < CONFIG_PASSWORD_BYTES_MAX; index++) {
        uint8_t want = index < expected_length ? (uint8_t)expected[index] : 0;
        uint8_t got = index < password.length ? password.bytes[index] : 0;
        difference |= (uint32_t)(want ^ got);
    }
    return difference == 0 && password.length <= CONFIG_PASSWORD_BYTES_MAX;
}

/* The one user kv has, "default", with requirepass as its password (none: any password). */
static bool credentials_valid(const struct cmd_context *context, struct slice user,
                              struct slice password)
{
    KV_ASSERT(user.bytes != NULL || user.length == 0);
    KV_ASSERT(password.bytes != NULL || password.length == 0);
    bool user_ok = user.length == 7 && memcmp(user.bytes, "default", 7) == 0;
    bool open = context->config->requirepass[0] == '\0';
    return user_ok && (open || password_matches(context->config, password));
}

CMD_HANDLER(cmd_auth)
{
    KV_ASSERT(arg_count >= 2); /* arity -2 */
    if (arg_count > 3) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (arg_count == 2 && context->config->requirepass[0] == '\0') {
        reply_error(&context->reply, REPLY_ERROR_AUTH_NO_PASSWORD);
        return;
    }
    static const uint8_t default_user[] = "default";
    struct slice user = arg_count == 3 ? args[1]
                                       : (struct slice){.bytes = default_user, .length = 7};
    if (!credentials_valid(context, user, args[arg_count - 1])) {
        reply_error(&context->reply, REPLY_ERROR_WRONGPASS);
        return;
    }
    context->client->authenticated = true;
    reply_ok(&context->reply);
    KV_ASSERT(context->client->authenticated);
}

/* Client names and library attributes: printable ASCII without spaces, as Redis checks. */
static bool attribute_valid(struct slice value)
{
    KV_ASSERT(value.bytes != NULL || value.length == 0);
    for (uint32_t index = 0; index < value.length; index++) {
        if (value.bytes[index] < '!' || value.bytes[index] > '~') {
            return false;
        }
    }
    return true;
}

/* Whether a client name may be set; false after answering the error. */
static bool client_name_valid(struct cmd_context *context, struct slice name)
{
    if (!attribute_valid(name)) {
        reply_error(&context->reply, REPLY_ERROR_CLIENT_NAME_INVALID);
        return false;
    }
    if (name.length > CLIENT_NAME_BYTES_MAX) {
        reply_error_format(&context->reply, REPLY_ERROR_CLIENT_NAME_TOO_LONG, CLIENT_NAME_BYTES_MAX);
        return false;
    }
    KV_ASSERT(name.length <= CLIENT_NAME_BYTES_MAX);
    return true;
}

/* CLIENT SETNAME and HELLO SETNAME: false after answering the error. */
static bool client_name_set(struct cmd_context *context, struct slice name)
{
    if (!client_name_valid(context, name)) {
        return false;
    }
    struct client *client = context->client;
    KV_ASSERT(name.length <= sizeof(client->name)); /* client_name_valid checked it */
    if (name.length > 0) {
        memcpy(client->name, name.bytes, name.length);
    }
    client->name_length = name.length;
    KV_ASSERT(client_name(client).length == name.length);
    return true;
}

static struct slice text_slice(const char *text)
{
    KV_ASSERT(text != NULL);
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX); /* kv's own text, narrowed to a slice length */
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

CMD_HANDLER(cmd_hello)
{
    KV_ASSERT(arg_count >= 1); /* arity -1 */
    int64_t version = 0; /* 0: the protocol stays */
    if (arg_count >= 2) {
        if (!number_parse_int64(args[1].bytes, args[1].length, &version)) {
            reply_error(&context->reply, REPLY_ERROR_PROTOCOL_VERSION_INVALID);
            return;
        }
        if (version != 2 && version != 3) {
            reply_error(&context->reply, REPLY_ERROR_NOPROTO);
            return;
        }
    }
    /* As Redis 7.0: AUTH authenticates where it stands, before later options are read. */
    for (uint32_t index = 2; index < arg_count; index++) {
        uint32_t more = arg_count - 1 - index;
        if (cmd_arg_is(args[index], "auth") && more >= 2) {
            KV_ASSERT(index + 2 < arg_count);
            if (!credentials_valid(context, args[index + 1], args[index + 2])) {
                reply_error(&context->reply, REPLY_ERROR_WRONGPASS);
                return;
            }
            context->client->authenticated = true;
            index += 2;
        } else if (cmd_arg_is(args[index], "setname") && more >= 1) {
            KV_ASSERT(index + 1 < arg_count);
            /* As Redis 7.0: the name is set where it stands, whatever follows. */
            if (!client_name_set(context, args[index + 1])) {
                return;
            }
            index += 1;
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_HELLO_OPTION, &args[index]);
            return;
        }
    }
    if (!context->client->authenticated) {
        reply_error(&context->reply, REPLY_ERROR_HELLO_NOAUTH);
        return;
    }
    /* As Redis: the switch comes first, so the answer is in the new protocol. */
    if (version != 0) {
        context->client->resp = (uint8_t)version;
        context->reply.resp3 = client_resp3(context->client);
    }
    KV_ASSERT(reply_protocol(&context->reply) == context->client->resp);
    reply_map(&context->reply, 7);
    reply_bulk(&context->reply, text_slice("server"));
    reply_bulk(&context->reply, text_slice("redis"));
    reply_bulk(&context->reply, text_slice("version"));
    reply_bulk(&context->reply, text_slice(CLIENT_REDIS_VERSION));
    reply_bulk(&context->reply, text_slice("proto"));
    reply_integer(&context->reply, context->client->resp);
    reply_bulk(&context->reply, text_slice("id"));
    reply_integer(&context->reply, (int64_t)context->client->id);
    reply_bulk(&context->reply, text_slice("mode"));
    reply_bulk(&context->reply, text_slice(cluster_enabled() ? "cluster" : "standalone"));
    reply_bulk(&context->reply, text_slice("role"));
    reply_bulk(&context->reply, text_slice("master"));
    reply_bulk(&context->reply, text_slice("modules"));
    reply_array(&context->reply, 0);
}

/* RESET: the connection as it was when it connected: no transaction, no watches, no name,
 * and not authenticated when a password is asked. */
CMD_HANDLER(cmd_reset)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    if (context->tracking != NULL) {
        tracking_disable(context->tracking, &context->client->tracking); /* as Redis's RESET */
    }
    client_reset(context->clients, context->client, context->config->requirepass[0] == '\0');
    context->reply.resp3 = client_resp3(context->client); /* RESP2 again */
    reply_simple(&context->reply, "RESET");
    /* As it was when it connected. */
    KV_ASSERT(!context->client->txn.active);
    KV_ASSERT(!client_subscribed(context->client));
    KV_ASSERT(context->client->name_length == 0);
}

/* Longest CLIENT LIST line: the fixed fields plus the name, address and library. */
#define CLIENT_LINE_BYTES (640u + CLIENT_NAME_BYTES_MAX + 2u * CLIENT_LIB_BYTES_MAX)

/* The flags CLIENT LIST shows: a monitor, blocked, subscribed, in a transaction, or none. */
static const char *client_flags(const struct cmd_context *context, const struct client *client)
{
    KV_ASSERT(client->id != 0);
    if (client->monitor) {
        /* Redis's 'O' first; a monitor may still open a transaction (MULTI, PING, EXEC). */
        return client->txn.active ? (client->no_evict ? "Oxe" : "Ox")
                                  : (client->no_evict ? "Oe" : "O");
    }
    if (block_is_blocked(context->block, client->slot_index)) {
        /* It blocked running a command at once, which MULTI would have queued instead. */
        KV_ASSERT(!client->txn.active);
        return "b";
    }
    if (client_subscribed(client)) {
        return client->no_evict ? "Pe" : "P";
    }
    if (client->txn.active) {
        return client->no_evict ? "xe" : "x";
    }
    return client->no_evict ? "e" : "N";
}

/* One client as CLIENT LIST and CLIENT INFO show it (Redis 7.2's fields), ending in "\n". */
static uint32_t client_line(const struct cmd_context *context, const struct client *client,
                            char *line)
{
    const struct conns *conns = context->conns;
    const struct conn *conn = conn_at(conns, client->slot_index);
    /* The cursors the line subtracts. */
    KV_ASSERT(conn->parser.command_start <= conn->recv_length);
    KV_ASSERT(conn->recv_length <= conn->recv_capacity);
    int64_t now_ms = context->store->now_ms;
    int64_t age_s = (now_ms - client->created_ms) / 1000;
    int64_t idle_s = (now_ms - client->last_command_ms) / 1000;
    uint32_t unparsed = conn->recv_length - conn->parser.command_start;
    uint64_t pending = conn->out_bytes;
    uint64_t memory = conn_memory(conns, conn);
    int written = snprintf(
        line, CLIENT_LINE_BYTES,
        "id=%" PRIu64 " addr=%.*s laddr=%s:%u fd=%u name=%.*s age=%" PRId64 " idle=%" PRId64
        " flags=%s db=%u sub=%u psub=%u ssub=%u multi=%d qbuf=%u qbuf-free=%u argv-mem=0"
        " multi-mem=0 rbs=%u rbp=0 obl=%" PRIu64 " oll=0 omem=%" PRIu64 " tot-mem=%" PRIu64
        " events=r%s cmd=%s"
        " user=default redir=%" PRId64 " resp=%u lib-name=%.*s lib-ver=%.*s\n",
        client->id, (int)conn->addr_length, conn->addr, context->config->bind,
        context->config->port, client->slot_index, (int)client->name_length, client->name,
        age_s < 0 ? 0 : age_s, idle_s < 0 ? 0 : idle_s, client_flags(context, client),
        client->db_index,
        client->pubsub.channels, client->pubsub.patterns, client->pubsub.shards,
        client->txn.active ? (int)client->txn.queued : -1, unparsed,
        conn->recv_capacity - conn->recv_length, conn->recv_capacity, pending,
        memory - heap_usable_bytes(conns->heap, conn->recv), memory, pending > 0 ? "w" : "",
        client->last_command != NULL ? client->last_command : "NULL",
        (client->tracking.flags & TRACKING_ON) ? (int64_t)client->tracking.redirect_id : -1,
        (unsigned)client->resp,
        (int)client->lib_name_length, client->lib_name, (int)client->lib_ver_length,
        client->lib_ver);
    KV_ASSERT(written > 0);
    KV_ASSERT((uint32_t)written < CLIENT_LINE_BYTES);
    return (uint32_t)written;
}

/* Which clients CLIENT LIST and CLIENT KILL select. */
struct client_filter {
    bool by_id;
    const struct slice *ids; /* CLIENT LIST ID: any of these */
    uint32_t id_count;
    uint64_t id;             /* CLIENT KILL ID */
    bool by_addr;
    struct slice addr;
    bool by_laddr;
    struct slice laddr;
    bool skip_me;
    bool none;               /* TYPE master/replica/pubsub, USER of nobody: no client */
};

static bool client_selected(const struct cmd_context *context, const struct client_filter *filter,
                            const struct client *client)
{
    KV_ASSERT(client->id != 0);
    /* CLIENT LIST selects by a list of ids, CLIENT KILL by one id: never both. */
    KV_ASSERT(filter->ids == NULL || !filter->by_id);
    KV_ASSERT(filter->ids == NULL || filter->id_count > 0);
    const struct conn *conn = conn_at(context->conns, client->slot_index);
    if (filter->none || (filter->skip_me && client == context->client)) {
        return false;
    }
    if (filter->by_id && filter->ids == NULL && client->id != filter->id) {
        return false;
    }
    if (filter->ids != NULL) {
        bool listed = false;
        for (uint32_t index = 0; index < filter->id_count && !listed; index++) {
            int64_t id = 0;
            listed = number_parse_int64(filter->ids[index].bytes, filter->ids[index].length, &id) &&
                     (uint64_t)id == client->id;
        }
        if (!listed) {
            return false;
        }
    }
    if (filter->by_addr &&
        !slice_equal(filter->addr, (struct slice){.bytes = (const uint8_t *)conn->addr,
                                                  .length = conn->addr_length})) {
        return false;
    }
    if (filter->by_laddr) {
        char laddr[CONFIG_BIND_BYTES_MAX + 8];
        snprintf(laddr, sizeof(laddr), "%s:%u", context->config->bind, context->config->port);
        if (!slice_equal(filter->laddr, text_slice(laddr))) {
            return false;
        }
    }
    return true;
}

/* TYPE's argument: normal selects every kv client, the other Redis types none. */
static bool client_type_parse(struct cmd_context *context, struct slice type, bool *none)
{
    static const char *const others[] = {"master", "replica", "slave", "pubsub"};
    *none = !cmd_arg_is(type, "normal");
    for (uint32_t index = 0; index < 4 && *none; index++) {
        if (cmd_arg_is(type, others[index])) {
            KV_ASSERT(*none); /* a Redis type kv has no clients of */
            return true;
        }
    }
    if (*none) {
        reply_error_format(&context->reply, REPLY_ERROR_CLIENT_TYPE_UNKNOWN, &type);
        return false;
    }
    KV_ASSERT(cmd_arg_is(type, "normal"));
    return true;
}

/* The clients of open connections not being killed, in slot order; bounded by the slot
 * count. */
static const struct client *client_next(const struct cmd_context *context, uint32_t *slot)
{
    KV_ASSERT(*slot <= context->conns->slot_count);
    for (; *slot < context->conns->slot_count; (*slot)++) {
        if (conn_live(conn_at(context->conns, *slot))) {
            const struct client *client = client_at(context->clients, *slot);
            KV_ASSERT(client->id != 0);
            KV_ASSERT(client->slot_index == *slot);
            (*slot)++;
            return client;
        }
    }
    return NULL;
}

/* CLIENT LIST [TYPE type] [ID id ...]: one bulk of lines, measured first (the bulk's header
 * is its length), then written line by line. */
static void client_list(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2); /* CLIENT LIST */
    struct client_filter filter = {0};
    if (arg_count == 4 && cmd_arg_is(args[2], "type")) {
        if (!client_type_parse(context, args[3], &filter.none)) {
            return;
        }
    } else if (arg_count >= 4 && cmd_arg_is(args[2], "id")) {
        for (uint32_t index = 3; index < arg_count; index++) {
            int64_t id = 0;
            if (!number_parse_int64(args[index].bytes, args[index].length, &id)) {
                reply_error(&context->reply, REPLY_ERROR_CLIENT_ID_INVALID);
                return;
            }
        }
        filter.ids = &args[3];
        filter.id_count = arg_count - 3;
    } else if (arg_count != 2) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    char line[CLIENT_LINE_BYTES];
    /* The calling client's own line changes as its reply is written (its output memory):
     * it is taken once, while measuring, and written as taken. */
    char own_line[CLIENT_LINE_BYTES];
    uint32_t own_length = 0;
    uint64_t total = 0;
    uint32_t slot = 0;
    for (const struct client *client; (client = client_next(context, &slot)) != NULL;) {
        if (!client_selected(context, &filter, client)) {
            continue;
        }
        if (client == context->client) {
            own_length = client_line(context, client, own_line);
            total += own_length;
        } else {
            total += client_line(context, client, line);
        }
    }
    reply_verbatim_header(&context->reply, total, "txt");
    uint64_t lines_start = context->reply.total;
    slot = 0;
    for (const struct client *client; (client = client_next(context, &slot)) != NULL;) {
        if (!client_selected(context, &filter, client)) {
            continue;
        }
        if (client == context->client) {
            reply_raw(&context->reply, own_line, own_length);
        } else {
            reply_raw(&context->reply, line, client_line(context, client, line));
        }
    }
    /* The lines are the ones measured: the bulk's length header is right. */
    KV_ASSERT(context->reply.failed || context->reply.total - lines_start == total);
    reply_raw(&context->reply, "\r\n", 2);
}

/* One <filter value> pair of CLIENT KILL's new form into the filter; false after answering
 * the error. */
static bool client_kill_option(struct cmd_context *context, struct slice name, struct slice value,
                               struct client_filter *filter)
{
    KV_ASSERT(filter->ids == NULL); /* KILL selects by one id, never by a list */
    KV_ASSERT(filter->id_count == 0);
    if (cmd_arg_is(name, "id")) {
        int64_t id = 0;
        if (!number_parse_int64(value.bytes, value.length, &id) || id <= 0) {
            reply_error(&context->reply, REPLY_ERROR_CLIENT_ID_NOT_POSITIVE);
            return false;
        }
        filter->by_id = true;
        filter->id = (uint64_t)id;
        KV_ASSERT(filter->id > 0);
    } else if (cmd_arg_is(name, "type")) {
        bool none = false;
        if (!client_type_parse(context, value, &none)) {
            return false;
        }
        filter->none |= none;
    } else if (cmd_arg_is(name, "addr")) {
        filter->by_addr = true;
        filter->addr = value;
    } else if (cmd_arg_is(name, "laddr")) {
        filter->by_laddr = true;
        filter->laddr = value;
    } else if (cmd_arg_is(name, "user")) {
        if (!slice_equal(value, text_slice("default"))) {
            reply_error_format(&context->reply, REPLY_ERROR_NO_SUCH_USER, &value);
            return false;
        }
    } else if (cmd_arg_is(name, "skipme")) {
        bool yes = cmd_arg_is(value, "yes");
        if (!yes && !cmd_arg_is(value, "no")) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        filter->skip_me = yes;
    } else {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    return true;
}

/* Kills the clients a filter selects, the caller last (after its reply); returns how many,
 * bounded by the slot count. */
static int64_t client_kill_selected(struct cmd_context *context,
                                    const struct client_filter *filter)
{
    int64_t killed = 0;
    uint32_t slot = 0;
    for (const struct client *client; (client = client_next(context, &slot)) != NULL;) {
        if (!client_selected(context, filter, client)) {
            continue;
        }
        killed++;
        if (client == context->client) {
            context->outcome.close_after_reply = true; /* Killing oneself: after this reply. */
        } else {
            struct conn *conn = conn_at(context->conns, client->slot_index);
            conn_kill(context->conns, conn);
            KV_ASSERT(!conn_live(conn)); /* client_next passes it by from now on */
        }
    }
    KV_ASSERT(killed <= context->conns->open_count); /* each a live client, once */
    return killed;
}

/* CLIENT KILL addr:port (OK or an error), or CLIENT KILL <filter value> ... (a count). */
static void client_kill(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3); /* CLIENT KILL and at least one argument */
    struct client_filter filter = {0};
    bool old_form = arg_count == 3;
    if (old_form) {
        filter.by_addr = true;
        filter.addr = args[2];
    } else if (arg_count % 2 != 0) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    } else {
        filter.skip_me = true;
    }
    for (uint32_t index = 2; !old_form && index < arg_count; index += 2) {
        KV_ASSERT(index + 1 < arg_count); /* the count is even: each name has its value */
        if (!client_kill_option(context, args[index], args[index + 1], &filter)) {
            return;
        }
    }
    int64_t killed = client_kill_selected(context, &filter);
    if (!old_form) {
        reply_integer(&context->reply, killed);
    } else if (killed == 0) {
        reply_error(&context->reply, REPLY_ERROR_NO_SUCH_CLIENT);
    } else {
        reply_ok(&context->reply);
    }
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value, as Redis 7.2 answers it. */
static void client_setinfo(struct cmd_context *context, const struct slice *args)
{
    struct client *client = context->client;
    bool name = cmd_arg_is(args[2], "lib-name");
    if (!name && !cmd_arg_is(args[2], "lib-ver")) {
        reply_error_format(&context->reply, REPLY_ERROR_SETINFO_OPTION_UNKNOWN, &args[2]);
        return;
    }
    if (!attribute_valid(args[3]) || args[3].length > CLIENT_LIB_BYTES_MAX) {
        reply_error_format(&context->reply,
                           args[3].length > CLIENT_LIB_BYTES_MAX ? REPLY_ERROR_SETINFO_TOO_LONG
                                                                 : REPLY_ERROR_SETINFO_INVALID,
                           &args[2]);
        return;
    }
    char *into = name ? client->lib_name : client->lib_ver;
    KV_ASSERT(args[3].length <= CLIENT_LIB_BYTES_MAX); /* the size of either field */
    if (args[3].length > 0) {
        memcpy(into, args[3].bytes, args[3].length);
    }
    *(name ? &client->lib_name_length : &client->lib_ver_length) = args[3].length;
    KV_ASSERT((name ? client->lib_name_length : client->lib_ver_length) == args[3].length);
    reply_ok(&context->reply);
}

/* CLIENT PAUSE timeout [WRITE|ALL], as Redis 7.0's pauseClients: the mode checked first,
 * then the timeout (ms, not negative); a pause in effect keeps the later end and the
 * stronger kind. The end wraps past INT64_MAX as Redis's does (then it is already over). */
static void client_pause(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    KV_ASSERT(arg_count == 3 || arg_count == 4);
    enum clients_pause kind = CLIENTS_PAUSE_ALL;
    if (arg_count == 4) {
        if (cmd_arg_is(args[3], "write")) {
            kind = CLIENTS_PAUSE_WRITE;
        } else if (!cmd_arg_is(args[3], "all")) {
            reply_error(&context->reply, REPLY_ERROR_PAUSE_MODE);
            return;
        }
    }
    int64_t timeout_ms = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &timeout_ms)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_TIMEOUT_INVALID);
        return;
    }
    if (timeout_ms < 0) {
        reply_error(&context->reply, REPLY_ERROR_TIMEOUT_NEGATIVE);
        return;
    }
    int64_t end_ms = timeout_ms == 0
                         ? 0
                         : (int64_t)((uint64_t)timeout_ms + (uint64_t)clients_clock_ms());
    struct clients *clients = context->clients;
    if (clients->pause == CLIENTS_PAUSE_OFF) {
        clients->pause_end_ms = end_ms;
    } else if (end_ms > clients->pause_end_ms) {
        clients->pause_end_ms = end_ms;
    }
    clients->pause = kind > clients->pause ? (uint8_t)kind : clients->pause;
    KV_ASSERT(clients->pause != CLIENTS_PAUSE_OFF);
    reply_ok(&context->reply);
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR], as Redis 7.0: a blocked client's timeout is made due
 * at once (the serving layer answers it after this command, with its timeout reply or
 * -UNBLOCKED); 1 when it was blocked, else 0. */
static void client_unblock(struct cmd_context *context, const struct slice *args,
                           uint32_t arg_count)
{
    KV_ASSERT(arg_count == 3 || arg_count == 4);
    bool error = false;
    if (arg_count == 4) {
        error = cmd_arg_is(args[3], "error");
        if (!error && !cmd_arg_is(args[3], "timeout")) {
            reply_error(&context->reply, REPLY_ERROR_UNBLOCK_REASON);
            return;
        }
    }
    int64_t id = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &id)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    struct block *block = context->block;
    /* Bounded by the connection slots. */
    for (uint32_t slot = 0; id > 0 && block != NULL && slot < context->clients->slot_count;
         slot++) {
        struct client *target = client_at(context->clients, slot);
        if (target->id != (uint64_t)id) {
            continue;
        }
        if (!block_is_blocked(block, slot) ||
            block->clients[slot].deadline_ms == CLIENT_UNBLOCK_DEADLINE_MS) {
            break; /* not blocked, or already unblocked by an earlier one */
        }
        block->clients[slot].deadline_ms = CLIENT_UNBLOCK_DEADLINE_MS;
        target->unblock_error = error;
        context->clients->unblock_count++;
        reply_integer(&context->reply, 1);
        return;
    }
    reply_integer(&context->reply, 0);
}

/* CLIENT REPLY ON|OFF|SKIP, as Redis 7.0: OFF and SKIP answer nothing (their "+OK" here is
 * dropped by the serving layer with every reply of a client whose mode is not ON); SKIP while
 * OFF changes nothing. */
static void client_reply_mode(struct cmd_context *context, struct slice mode)
{
    struct client *client = context->client;
    if (cmd_arg_is(mode, "on")) {
        client->reply_mode = CLIENT_REPLY_ON;
    } else if (cmd_arg_is(mode, "off")) {
        client->reply_mode = CLIENT_REPLY_OFF;
    } else if (cmd_arg_is(mode, "skip")) {
        if (client->reply_mode != CLIENT_REPLY_OFF) {
            client->reply_mode = CLIENT_REPLY_SKIP_NEXT;
        }
    } else {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    KV_ASSERT(client->reply_mode <= CLIENT_REPLY_SKIP);
    reply_ok(&context->reply);
}

static const char *const client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME.",
    "LIST [options ...]",
    "    Return information about client connections. Options: TYPE, ID.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set the client's library name or version.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "NO-EVICT (ON|OFF)",
    "    kv never evicts: accepted and ignored.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-TOUCH (ON|OFF)",
    "    kv keeps no access times: accepted and ignored.",
    "HELP",
    "    Print this help.",
};


CMD_HANDLER(cmd_client)
{
    KV_ASSERT(arg_count >= 2);
    const struct client *client = context->client;
    uint64_t length_before = context->reply.total;
    char line[CLIENT_LINE_BYTES];
    if (cmd_subcommand_is(context, args, arg_count, "id", 2, "client|id")) {
        reply_integer(&context->reply, (int64_t)context->client->id);
    } else if (cmd_subcommand_is(context, args, arg_count, "setname", 3, "client|setname")) {
        if (client_name_set(context, args[2])) {
            reply_ok(&context->reply);
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "getname", 2, "client|getname")) {
        client->name_length > 0 ? reply_bulk(&context->reply, client_name(client))
                                : reply_null(&context->reply);
    } else if (cmd_subcommand_is(context, args, arg_count, "setinfo", 4, "client|setinfo")) {
        client_setinfo(context, args);
    } else if (cmd_subcommand_is(context, args, arg_count, "list", -2, "client|list")) {
        client_list(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "info", 2, "client|info")) {
        uint32_t length = client_line(context, client, line);
        reply_verbatim(&context->reply, (struct slice){.bytes = (const uint8_t *)line, .length = length},
                       "txt");
    } else if (cmd_subcommand_is(context, args, arg_count, "kill", -3, "client|kill")) {
        client_kill(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "no-evict", 3, "client|no-evict")) {
        bool on = cmd_arg_is(args[2], "on");
        if (on || cmd_arg_is(args[2], "off")) {
            context->client->no_evict = on;
            reply_ok(&context->reply);
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "pause", -3, "client|pause")) {
        if (arg_count <= 4) {
            client_pause(context, args, arg_count);
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1],
                               "CLIENT");
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "unpause", 2, "client|unpause")) {
        context->clients->pause = CLIENTS_PAUSE_OFF;
        context->clients->pause_ended = true; /* the serving layer resumes the held */
        reply_ok(&context->reply);
    } else if (cmd_subcommand_is(context, args, arg_count, "unblock", -3, "client|unblock")) {
        if (arg_count <= 4) {
            client_unblock(context, args, arg_count);
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1],
                               "CLIENT");
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "reply", 3, "client|reply")) {
        client_reply_mode(context, args[2]);
    } else if (cmd_subcommand_is(context, args, arg_count, "no-touch", 3, "client|no-touch")) {
        cmd_arg_is(args[2], "on") || cmd_arg_is(args[2], "off")
            ? reply_ok(&context->reply)
            : reply_error(&context->reply, REPLY_ERROR_SYNTAX);
    } else if (cmd_subcommand_is(context, args, arg_count, "help", 2, "client|help")) {
        cmd_reply_help(&context->reply, client_help, sizeof(client_help) / sizeof(client_help[0]));
    } else if (context->reply.total == length_before &&
               context->tracking != NULL &&
               cmd_client_tracking_subcommand(context, args, arg_count)) {
        KV_ASSERT(context->reply.total > length_before);
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "CLIENT");
    }
    /* Every subcommand, known or not, with the right arity or not, answers once. */
    KV_ASSERT(context->reply.total > length_before);
}

static const struct cmd client_cmds[] = {
    {"client", -2, 0, 0, 0, 0, cmd_client},
    {"auth", -2, 0, 0, 0, CMD_FLAG_NOAUTH, cmd_auth},
    {"hello", -1, 0, 0, 0, CMD_FLAG_NOAUTH, cmd_hello},
    {"reset", 1, 0, 0, 0, CMD_FLAG_NOAUTH | CMD_FLAG_TXN | CMD_FLAG_PUBSUB, cmd_reset},
};

CMD_FAMILY(cmd_family_client, "connection", client_cmds);
