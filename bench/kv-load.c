/*
 * kv-load: an open-loop RESP load generator for comparing kv and redis-server latency fairly.
 *
 * Every request has an intended send time from a fixed schedule: request i on connection c is
 * due at start + (i + c / connections) * interval, where interval = connections / rate seconds.
 * Latency runs from that intended time to the moment the complete reply is parsed, never from
 * the actual send, so when the server stalls and requests queue up in the client the queueing
 * shows as latency (no coordinated omission). A connection that falls behind sends every request
 * whose time has come, at most SENDS_PER_TURN_MAX per loop turn, and never skips one. Only a
 * full pending ring (PENDING_RING_COUNT outstanding requests) stops a connection's schedule until
 * the ring drains; each request the schedule could not issue then is counted as dropped_schedule.
 * With --rate 0 it runs closed loop instead: each connection keeps --pipeline requests in flight,
 * which finds the peak throughput.
 *
 * One thread, one epoll set (level-triggered), non-blocking loopback sockets with TCP_NODELAY,
 * and a timerfd armed at the next due send, so the loop sleeps until exactly then and never
 * spins. Replies are parsed incrementally (bulk bodies are skipped as they arrive, so no reply
 * has to fit in the receive buffer). Every buffer is allocated once at startup. The run stops
 * by itself after warmup + duration plus at most DRAIN_NS for outstanding replies; whatever is
 * still outstanding then is counted as a timeout and enters the histogram at its latency so far.
 *
 * Linux only, libc and libm only. Loopback only: it refuses any host outside 127.0.0.0/8.
 *   cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o kv-load bench/kv-load.c -lm
 * Exit status: 0 done, 1 could not connect or a connection failed or closed, 2 bad flag.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Assertions catch bugs in this file only, never server replies or kernel errors. */
#define LOAD_ASSERT(expr) ((expr) ? (void)0 : load_assert_fail(#expr, __FILE__, __LINE__))

_Noreturn static void load_assert_fail(const char *expression, const char *file, int line)
{
    fprintf(stderr, "kv-load: assertion failed: %s (%s:%d)\n", expression, file, line);
    abort();
}

#define EXIT_RUN_FAILED 1
#define EXIT_BAD_FLAG 2

#define NS_PER_SEC 1000000000ull
#define NS_PER_US 1000ull

/* Each way, per connection: a deep pipeline of small requests, or a few of the largest SETs. */
#define SEND_BUFFER_BYTES (256u * 1024u)
#define RECV_BUFFER_BYTES (256u * 1024u)
/* Outstanding requests per connection: 65536 is 3.2 s of backlog at 20000 req/s on one
 * connection, far beyond any stall worth measuring. A power of two so the ring index masks. */
#define PENDING_RING_COUNT 65536u
/* Sends per connection per loop turn, so one connection catching up cannot starve the rest. */
#define SENDS_PER_TURN_MAX 64u
/* Events handled per epoll_wait: one per connection plus the timer fits at the default 50. */
#define EPOLL_EVENTS_MAX 256
/* epoll_wait sleeps at most this long, so the deadlines are rechecked even if the timer is off. */
#define WAIT_MS_MAX 100
/* After the last scheduled send, outstanding replies get this long before they are timeouts. */
#define DRAIN_NS (2ull * NS_PER_SEC)
/* Prefill is closed loop at this depth per connection and must finish within the timeout. */
#define PREFILL_PIPELINE_DEPTH 64u
#define PREFILL_TIMEOUT_NS (60ull * NS_PER_SEC)
/* Array nesting the reply parser follows: LRANGE needs 1; 8 covers any reply we provoke. */
#define RESP_DEPTH_MAX 8u
/* A header line, simple string or error longer than this is not a reply to our commands. */
#define RESP_LINE_BYTES_MAX 4096u
/* Flag limits. 1000 connections stay under the default 1024 open files. */
#define CONNECTIONS_MAX 1000u
#define PIPELINE_DEPTH_MAX 1024u
#define KEY_COUNT_MAX 1000000000u
#define VALUE_BYTES_MAX 65536u
#define RATE_PER_SEC_MAX 10000000.0
#define SECONDS_MAX 86400.0
/* Every byte of the largest request except its value: "*3", "$5 LPUSH", "$14 list:999999999",
 * the value's "$65536" header and all CRLFs come to about 50 bytes; 128 leaves margin. */
#define REQUEST_FRAME_BYTES_MAX 128u
/* Histogram: band 0 is [0, 64) us in 1 us steps; band b >= 1 is [64 << (b - 1), 64 << b) us
 * in steps of 1 << (b - 1) us. 21 bands reach 64 << 20 us = 2^26 us = 67 s. */
#define HISTOGRAM_SUB_BUCKET_COUNT 64u
#define HISTOGRAM_BAND_COUNT 21u
#define HISTOGRAM_BUCKET_COUNT (HISTOGRAM_SUB_BUCKET_COUNT * HISTOGRAM_BAND_COUNT)
/* epoll data of the timerfd; connections use their index, always below CONNECTIONS_MAX. */
#define TIMER_TOKEN UINT32_MAX

static_assert((PENDING_RING_COUNT & (PENDING_RING_COUNT - 1)) == 0, "ring masks its index");
static_assert(PIPELINE_DEPTH_MAX <= PENDING_RING_COUNT, "closed loop never overflows the ring");
static_assert(PREFILL_PIPELINE_DEPTH <= PENDING_RING_COUNT, "prefill never overflows the ring");
static_assert(REQUEST_FRAME_BYTES_MAX + VALUE_BYTES_MAX <= SEND_BUFFER_BYTES / 2,
              "the largest request fits the send buffer with room to pipeline");
static_assert(RESP_LINE_BYTES_MAX < RECV_BUFFER_BYTES, "a partial line leaves room to read");
static_assert(CONNECTIONS_MAX < TIMER_TOKEN, "connection indexes never collide with the timer");

enum command_kind {
    COMMAND_GET,
    COMMAND_SET,
    COMMAND_MIX,
    COMMAND_PING,
    COMMAND_LPUSH,
    COMMAND_LRANGE,
    COMMAND_KIND_COUNT,
};

static const char *const command_names[COMMAND_KIND_COUNT] = {
    "get", "set", "mix", "ping", "lpush", "lrange",
};

enum load_mode {
    MODE_PREFILL, /* SET every key once, closed loop, nothing recorded */
    MODE_CLOSED,  /* --rate 0: keep pipeline_depth requests outstanding per connection */
    MODE_OPEN,    /* send on the fixed schedule, latency from the intended send time */
};

struct options {
    struct in_addr host_address;       /* IPv4 loopback address, network byte order */
    char host_text[INET_ADDRSTRLEN];   /* the same address as text, for the report */
    uint32_t port;                     /* TCP port, 1..65535 */
    uint32_t connection_count;         /* TCP connections, 1..CONNECTIONS_MAX */
    double rate_per_sec;               /* offered requests per second in total; 0 = closed */
    double duration_sec;               /* measured seconds, after the warmup */
    double warmup_sec;                 /* seconds whose requests are sent but not recorded */
    enum command_kind command;         /* what every request is (mix: SET or GET) */
    uint32_t mix_set_percent;          /* mix: percent of requests that are SET, 0..100 */
    uint32_t key_count;                /* keys key:<n> and lists list:<n>, n in [0, key_count) */
    uint32_t value_bytes;              /* bytes of each SET or LPUSH value, all 'x' */
    uint32_t pipeline_depth;           /* closed loop: outstanding requests per connection */
    uint64_t seed;                     /* PRNG seed for key and command choice */
    bool prefill;                      /* SET every key once before the run */
    bool csv;                          /* print a CSV header and data line, not the table */
};

struct histogram {
    uint64_t bucket_counts[HISTOGRAM_BUCKET_COUNT]; /* recorded latencies per bucket */
    uint64_t total_count;                           /* sum of bucket_counts */
    uint64_t max_ns;                                /* largest latency recorded, exact, in ns */
};

/* Incremental RESP2 reply parser state for one connection; survives between reads. */
struct reply_parser {
    uint64_t bulk_bytes_left;                /* body bytes plus CRLF of the bulk being skipped */
    uint32_t depth;                          /* arrays open, 0..RESP_DEPTH_MAX */
    int64_t elements_left[RESP_DEPTH_MAX];   /* elements still expected in each open array */
    bool is_error;                           /* the reply in progress is a top-level '-' */
};

enum reply_status {
    REPLY_NEED_MORE, /* every byte given was consumed or is an incomplete line kept for later */
    REPLY_DONE,      /* one complete top-level reply ends at *consumed_bytes */
    REPLY_MALFORMED, /* not RESP2, or beyond RESP_DEPTH_MAX or RESP_LINE_BYTES_MAX */
};

struct conn {
    int fd;                        /* non-blocking TCP socket, -1 before connect */
    uint32_t index;                /* position in load->conns; sets the schedule offset */
    uint8_t *send_buffer;          /* SEND_BUFFER_BYTES, encoded requests */
    uint32_t send_head_bytes;      /* bytes at the front already written to the socket */
    uint32_t send_fill_bytes;      /* bytes encoded; unsent = send_fill_bytes - send_head_bytes */
    bool send_blocked;             /* the last encode found no room; cleared by a write */
    bool want_write;               /* EPOLLOUT is registered because unsent bytes remain */
    uint8_t *recv_buffer;          /* RECV_BUFFER_BYTES, received bytes not yet parsed */
    uint32_t recv_fill_bytes;      /* bytes in recv_buffer, all unparsed, starting at 0 */
    struct reply_parser parser;    /* state of the reply being parsed */
    uint64_t *pending_intended_ns; /* ring of PENDING_RING_COUNT intended send times, FIFO */
    uint32_t pending_head_index;   /* ring slot of the oldest outstanding request */
    uint32_t pending_count;        /* outstanding requests, 0..PENDING_RING_COUNT */
    uint64_t scheduled_count;      /* open loop: schedule slots used, sent or dropped */
    bool schedule_stopped;         /* open loop: the ring overflowed; resumes once it is empty */
};

struct load {
    const struct options *options; /* validated flags */
    struct conn *conns;            /* connection_count connections */
    int epoll_fd;                  /* all sockets (EPOLLIN, plus EPOLLOUT when unsent) + timer */
    int timer_fd;                  /* CLOCK_MONOTONIC timerfd armed at the next wake time */
    uint64_t timer_armed_ns;       /* absolute time the timer is armed for, 0 if never */
    enum load_mode mode;           /* what the current phase issues */
    uint64_t start_ns;             /* schedule origin of the phase */
    uint64_t measure_start_ns;     /* requests intended from here on are recorded */
    uint64_t end_ns;               /* no request is intended at or after this */
    uint64_t drain_deadline_ns;    /* the phase stops here even with replies outstanding */
    double interval_ns;            /* open loop: gap between requests on one connection */
    uint32_t request_bytes_max;    /* largest request encoding for these options */
    uint8_t *value;                /* value_bytes of 'x' (one more byte so it is never empty) */
    uint64_t random_state;         /* splitmix64 state, from --seed */
    uint32_t prefill_next_key;     /* prefill: next key to SET, 0..key_count */
    uint64_t pending_total;        /* outstanding requests over all connections */
    uint64_t recorded_count;       /* replies to requests intended in the measured window */
    uint64_t error_count;          /* of those, replies that were errors */
    uint64_t prefill_error_count;  /* error replies during prefill */
    uint64_t dropped_schedule_count; /* schedule slots not sent because the ring was full */
    uint64_t timeout_count;        /* requests still outstanding at drain_deadline_ns */
    struct histogram histogram;    /* latencies of recorded requests */
};

static uint64_t clock_now_ns(void)
{
    struct timespec now;
    int result = clock_gettime(CLOCK_MONOTONIC, &now);
    LOAD_ASSERT(result == 0);
    return (uint64_t)now.tv_sec * NS_PER_SEC + (uint64_t)now.tv_nsec;
}

/* splitmix64: small, fast, and good enough to pick keys. */
static uint64_t random_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    uint64_t mixed = *state;
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ull;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebull;
    return mixed ^ (mixed >> 31);
}

/* ---- Histogram ---------------------------------------------------------------------------- */

static uint32_t histogram_bucket_index(uint64_t value_us)
{
    if (value_us < HISTOGRAM_SUB_BUCKET_COUNT) {
        return (uint32_t)value_us;
    }
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(value_us); /* >= 6 here */
    uint32_t band = top_bit - 5u;
    if (band >= HISTOGRAM_BAND_COUNT) {
        return HISTOGRAM_BUCKET_COUNT - 1u; /* above 2^26 us: the last bucket */
    }
    uint32_t sub_index = (uint32_t)(value_us >> (top_bit - 6u)) - HISTOGRAM_SUB_BUCKET_COUNT;
    LOAD_ASSERT(sub_index < HISTOGRAM_SUB_BUCKET_COUNT);
    return band * HISTOGRAM_SUB_BUCKET_COUNT + sub_index;
}

/* The exclusive upper edge of a bucket in us: every value in it is below this. */
static uint64_t histogram_bucket_upper_us(uint32_t bucket_index)
{
    LOAD_ASSERT(bucket_index < HISTOGRAM_BUCKET_COUNT);
    uint32_t band = bucket_index / HISTOGRAM_SUB_BUCKET_COUNT;
    uint64_t sub_index = bucket_index % HISTOGRAM_SUB_BUCKET_COUNT;
    if (band == 0) {
        return sub_index + 1u;
    }
    return (HISTOGRAM_SUB_BUCKET_COUNT + sub_index + 1u) << (band - 1u);
}

static void histogram_record(struct histogram *histogram, uint64_t latency_ns)
{
    uint32_t bucket_index = histogram_bucket_index(latency_ns / NS_PER_US);
    histogram->bucket_counts[bucket_index]++;
    histogram->total_count++;
    if (latency_ns > histogram->max_ns) {
        histogram->max_ns = latency_ns;
    }
}

/* The upper edge of the bucket where the cumulative count first reaches ceil(q * total), with
 * q = per_million / 10^6, clamped to the exact maximum (rounded up to a whole us) so that no
 * percentile reads above max. Returns 0 for an empty histogram. */
static uint64_t histogram_percentile_us(const struct histogram *histogram, uint64_t per_million)
{
    LOAD_ASSERT(per_million <= 1000000u);
    if (histogram->total_count == 0) {
        return 0;
    }
    uint64_t rank = (histogram->total_count * per_million + 999999u) / 1000000u;
    if (rank == 0) {
        rank = 1;
    }
    uint64_t max_us = (histogram->max_ns + NS_PER_US - 1u) / NS_PER_US;
    uint64_t cumulative_count = 0;
    for (uint32_t bucket_index = 0; bucket_index < HISTOGRAM_BUCKET_COUNT; bucket_index++) {
        cumulative_count += histogram->bucket_counts[bucket_index];
        if (cumulative_count >= rank) {
            uint64_t upper_us = histogram_bucket_upper_us(bucket_index);
            return upper_us < max_us ? upper_us : max_us;
        }
    }
    LOAD_ASSERT(false); /* total_count is the sum of the buckets, so rank is always reached */
    return 0;
}

/* ---- Reply parser ------------------------------------------------------------------------- */

/* Parses the signed decimal between a header's type byte and its CRLF. */
static bool reply_parse_integer(const uint8_t *digits, uint32_t digit_bytes, int64_t *value_out)
{
    bool negative = digit_bytes > 0 && digits[0] == '-';
    uint32_t first_index = negative ? 1u : 0u;
    if (digit_bytes <= first_index || digit_bytes - first_index > 18u) {
        return false; /* empty, or too long for int64 without overflow checks */
    }
    int64_t value = 0;
    for (uint32_t digit_index = first_index; digit_index < digit_bytes; digit_index++) {
        if (digits[digit_index] < '0' || digits[digit_index] > '9') {
            return false;
        }
        value = value * 10 + (digits[digit_index] - '0');
    }
    *value_out = negative ? -value : value;
    return true;
}

/* Marks one element finished and closes every array it completes (bounded by depth). Returns
 * true when that completes the top-level reply. */
static bool reply_element_complete(struct reply_parser *parser)
{
    while (parser->depth > 0) {
        LOAD_ASSERT(parser->elements_left[parser->depth - 1u] > 0);
        parser->elements_left[parser->depth - 1u]--;
        if (parser->elements_left[parser->depth - 1u] > 0) {
            return false;
        }
        parser->depth--;
    }
    return true;
}

/* Reads one header line (type byte .. CRLF). Returns REPLY_DONE when the element is already
 * complete (simple string, error, integer, null), REPLY_NEED_MORE when it opens a bulk body or
 * an array, REPLY_MALFORMED otherwise. */
static enum reply_status reply_parse_header(struct reply_parser *parser, const uint8_t *line,
                                            uint32_t line_bytes)
{
    if (line_bytes < 3u || line[line_bytes - 2u] != '\r') {
        return REPLY_MALFORMED;
    }
    int64_t length = 0;
    switch (line[0]) {
    case '+':
    case ':':
        return REPLY_DONE;
    case '-':
        if (parser->depth == 0) {
            parser->is_error = true;
        }
        return REPLY_DONE;
    case '$':
    case '*':
        if (!reply_parse_integer(line + 1, line_bytes - 3u, &length) || length < -1) {
            return REPLY_MALFORMED;
        }
        if (length == -1) {
            return REPLY_DONE; /* null bulk or null array */
        }
        if (line[0] == '$') {
            parser->bulk_bytes_left = (uint64_t)length + 2u; /* the body and its CRLF */
            return REPLY_NEED_MORE;
        }
        if (length == 0) {
            return REPLY_DONE; /* empty array */
        }
        if (parser->depth == RESP_DEPTH_MAX) {
            return REPLY_MALFORMED;
        }
        parser->elements_left[parser->depth] = length;
        parser->depth++;
        return REPLY_NEED_MORE;
    default:
        return REPLY_MALFORMED;
    }
}

/* Consumes bytes from data until one top-level reply completes (REPLY_DONE, *is_error set) or
 * the bytes run out (REPLY_NEED_MORE; an incomplete header line is left unconsumed). Every pass
 * of the loop consumes at least one byte, so it is bounded by length. */
static enum reply_status reply_parse(struct reply_parser *parser, const uint8_t *data,
                                     uint32_t length, uint32_t *consumed_bytes, bool *is_error)
{
    uint32_t offset = 0;
    while (offset < length) {
        bool element_done = false;
        if (parser->bulk_bytes_left > 0) {
            uint64_t available_bytes = length - offset;
            uint64_t take_bytes = parser->bulk_bytes_left < available_bytes
                                      ? parser->bulk_bytes_left : available_bytes;
            offset += (uint32_t)take_bytes;
            parser->bulk_bytes_left -= take_bytes;
            element_done = parser->bulk_bytes_left == 0;
        } else {
            const uint8_t *newline = memchr(data + offset, '\n', length - offset);
            if (newline == NULL) {
                break;
            }
            uint32_t line_bytes = (uint32_t)(newline - (data + offset)) + 1u;
            enum reply_status status = reply_parse_header(parser, data + offset, line_bytes);
            if (status == REPLY_MALFORMED) {
                return REPLY_MALFORMED;
            }
            offset += line_bytes;
            element_done = status == REPLY_DONE;
        }
        if (element_done && reply_element_complete(parser)) {
            *consumed_bytes = offset;
            *is_error = parser->is_error;
            parser->is_error = false;
            return REPLY_DONE;
        }
    }
    LOAD_ASSERT(offset <= length);
    *consumed_bytes = offset;
    if (length - offset > RESP_LINE_BYTES_MAX) {
        return REPLY_MALFORMED;
    }
    return REPLY_NEED_MORE;
}

/* ---- Request encoding --------------------------------------------------------------------- */

static uint8_t *encode_bytes(uint8_t *at, const void *bytes, size_t length)
{
    memcpy(at, bytes, length);
    return at + length;
}

static uint8_t *encode_decimal(uint8_t *at, uint64_t value)
{
    uint8_t digits[20]; /* UINT64_MAX has 20 digits */
    uint32_t digit_count = 0;
    do {
        LOAD_ASSERT(digit_count < sizeof digits);
        digits[digit_count] = (uint8_t)('0' + value % 10u);
        digit_count++;
        value /= 10u;
    } while (value > 0);
    for (uint32_t digit_index = digit_count; digit_index > 0; digit_index--) {
        *at = digits[digit_index - 1u];
        at++;
    }
    return at;
}

static uint8_t *encode_array_header(uint8_t *at, uint32_t element_count)
{
    at = encode_bytes(at, "*", 1);
    at = encode_decimal(at, element_count);
    return encode_bytes(at, "\r\n", 2);
}

static uint8_t *encode_bulk(uint8_t *at, const void *bytes, size_t length)
{
    at = encode_bytes(at, "$", 1);
    at = encode_decimal(at, length);
    at = encode_bytes(at, "\r\n", 2);
    at = encode_bytes(at, bytes, length);
    return encode_bytes(at, "\r\n", 2);
}

/* A key bulk: prefix ("key:" or "list:") then the decimal key index. */
static uint8_t *encode_key(uint8_t *at, const char *prefix, uint32_t key_index)
{
    uint8_t key[32]; /* "list:" and 10 digits */
    uint8_t *key_end = encode_bytes(key, prefix, strlen(prefix));
    key_end = encode_decimal(key_end, key_index);
    LOAD_ASSERT(key_end <= key + sizeof key);
    return encode_bulk(at, key, (size_t)(key_end - key));
}

/* Encodes one multibulk request at `at`; returns the bytes written. Pure: no state. */
static uint32_t request_encode(uint8_t *at_start, enum command_kind kind, uint32_t key_index,
                               const uint8_t *value, uint32_t value_bytes)
{
    uint8_t *at = at_start;
    switch (kind) {
    case COMMAND_GET:
        at = encode_array_header(at, 2);
        at = encode_bulk(at, "GET", 3);
        at = encode_key(at, "key:", key_index);
        break;
    case COMMAND_SET:
        at = encode_array_header(at, 3);
        at = encode_bulk(at, "SET", 3);
        at = encode_key(at, "key:", key_index);
        at = encode_bulk(at, value, value_bytes);
        break;
    case COMMAND_PING:
        at = encode_array_header(at, 1);
        at = encode_bulk(at, "PING", 4);
        break;
    case COMMAND_LPUSH:
        at = encode_array_header(at, 3);
        at = encode_bulk(at, "LPUSH", 5);
        at = encode_key(at, "list:", key_index);
        at = encode_bulk(at, value, value_bytes);
        break;
    case COMMAND_LRANGE:
        at = encode_array_header(at, 4);
        at = encode_bulk(at, "LRANGE", 6);
        at = encode_key(at, "list:", key_index);
        at = encode_bulk(at, "0", 1);
        at = encode_bulk(at, "9", 1);
        break;
    case COMMAND_MIX:
    case COMMAND_KIND_COUNT:
        LOAD_ASSERT(false); /* the caller resolves mix to SET or GET */
        break;
    }
    LOAD_ASSERT(at > at_start);
    return (uint32_t)(at - at_start);
}

/* ---- Connections -------------------------------------------------------------------------- */

static void pending_push(struct load *load, struct conn *conn, uint64_t intended_ns)
{
    LOAD_ASSERT(conn->pending_count < PENDING_RING_COUNT);
    uint32_t slot_index = (conn->pending_head_index + conn->pending_count) &
                          (PENDING_RING_COUNT - 1u);
    conn->pending_intended_ns[slot_index] = intended_ns;
    conn->pending_count++;
    load->pending_total++;
}

static uint64_t pending_pop(struct load *load, struct conn *conn)
{
    LOAD_ASSERT(conn->pending_count > 0);
    LOAD_ASSERT(load->pending_total > 0);
    uint64_t intended_ns = conn->pending_intended_ns[conn->pending_head_index];
    conn->pending_head_index = (conn->pending_head_index + 1u) & (PENDING_RING_COUNT - 1u);
    conn->pending_count--;
    load->pending_total--;
    return intended_ns;
}

/* Makes room for one more request at the end of the send buffer, moving unsent bytes to the
 * front if that helps. Returns false when the unsent bytes leave no room. */
static bool conn_send_room(struct conn *conn, uint32_t request_bytes_max)
{
    LOAD_ASSERT(conn->send_head_bytes <= conn->send_fill_bytes);
    if (SEND_BUFFER_BYTES - conn->send_fill_bytes >= request_bytes_max) {
        return true;
    }
    if (conn->send_head_bytes == 0) {
        return false;
    }
    uint32_t unsent_bytes = conn->send_fill_bytes - conn->send_head_bytes;
    memmove(conn->send_buffer, conn->send_buffer + conn->send_head_bytes, unsent_bytes);
    conn->send_head_bytes = 0;
    conn->send_fill_bytes = unsent_bytes;
    return SEND_BUFFER_BYTES - conn->send_fill_bytes >= request_bytes_max;
}

/* Encodes the next request (command and key chosen here) if it fits; returns false if not. */
static bool conn_request_append(struct load *load, struct conn *conn)
{
    if (!conn_send_room(conn, load->request_bytes_max)) {
        conn->send_blocked = true;
        return false;
    }
    const struct options *options = load->options;
    enum command_kind kind = options->command;
    uint32_t key_index = 0;
    if (load->mode == MODE_PREFILL) {
        kind = COMMAND_SET;
        key_index = load->prefill_next_key;
        load->prefill_next_key++;
    } else {
        if (kind == COMMAND_MIX) {
            bool is_set = random_next(&load->random_state) % 100u < options->mix_set_percent;
            kind = is_set ? COMMAND_SET : COMMAND_GET;
        }
        /* Modulo bias is below key_count / 2^64: invisible at any key_count we accept. */
        key_index = (uint32_t)(random_next(&load->random_state) % options->key_count);
    }
    uint32_t request_bytes = request_encode(conn->send_buffer + conn->send_fill_bytes, kind,
                                            key_index, load->value, options->value_bytes);
    LOAD_ASSERT(request_bytes <= load->request_bytes_max);
    conn->send_fill_bytes += request_bytes;
    return true;
}

static int conn_epoll_update(struct load *load, struct conn *conn, bool want_write)
{
    if (conn->want_write == want_write) {
        return 0;
    }
    struct epoll_event event = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0u)};
    event.data.u32 = conn->index;
    int result = epoll_ctl(load->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
    LOAD_ASSERT(result == 0); /* the fd is registered and open: only our bug could fail this */
    conn->want_write = want_write;
    return 0;
}

/* Writes what the socket takes in one send (a short write means its buffer is full) and asks
 * for EPOLLOUT while bytes remain. Returns 0, or -1 after printing why the socket failed. */
static int conn_flush(struct load *load, struct conn *conn)
{
    uint32_t unsent_bytes = conn->send_fill_bytes - conn->send_head_bytes;
    if (unsent_bytes > 0) {
        ssize_t written = send(conn->fd, conn->send_buffer + conn->send_head_bytes, unsent_bytes,
                               MSG_NOSIGNAL);
        if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            fprintf(stderr, "kv-load: connection %u: send failed: %s\n", conn->index,
                    strerror(errno));
            return -1;
        }
        if (written > 0) {
            LOAD_ASSERT((uint32_t)written <= unsent_bytes);
            conn->send_head_bytes += (uint32_t)written;
            conn->send_blocked = false;
        }
    }
    if (conn->send_head_bytes == conn->send_fill_bytes) {
        conn->send_head_bytes = 0;
        conn->send_fill_bytes = 0;
    }
    return conn_epoll_update(load, conn, conn->send_fill_bytes > conn->send_head_bytes);
}

/* Open loop: the intended send time of schedule slot `slot_index` on this connection. */
static uint64_t conn_schedule_ns(const struct load *load, const struct conn *conn,
                                 uint64_t slot_index)
{
    double offset = (double)conn->index / (double)load->options->connection_count;
    return load->start_ns + (uint64_t)(((double)slot_index + offset) * load->interval_ns);
}

/* Open loop: sends every request whose time has come, up to SENDS_PER_TURN_MAX. A full ring
 * stops the schedule until the ring is empty; each slot passed meanwhile is dropped_schedule. */
static void conn_issue_open(struct load *load, struct conn *conn, uint64_t now_ns)
{
    for (uint32_t issue_index = 0; issue_index < SENDS_PER_TURN_MAX; issue_index++) {
        uint64_t intended_ns = conn_schedule_ns(load, conn, conn->scheduled_count);
        if (intended_ns > now_ns || intended_ns >= load->end_ns) {
            return;
        }
        if (conn->schedule_stopped && conn->pending_count == 0) {
            conn->schedule_stopped = false;
        }
        if (conn->schedule_stopped || conn->pending_count == PENDING_RING_COUNT) {
            conn->schedule_stopped = true;
            load->dropped_schedule_count++;
            conn->scheduled_count++;
            continue;
        }
        if (!conn_request_append(load, conn)) {
            return; /* send buffer full: this slot is sent, late, once a write makes room */
        }
        pending_push(load, conn, intended_ns);
        conn->scheduled_count++;
    }
}

/* Closed loop and prefill: tops the connection up to its depth, up to SENDS_PER_TURN_MAX. */
static void conn_issue_closed(struct load *load, struct conn *conn, uint64_t now_ns)
{
    uint32_t depth = load->mode == MODE_PREFILL ? PREFILL_PIPELINE_DEPTH
                                                : load->options->pipeline_depth;
    for (uint32_t issue_index = 0; issue_index < SENDS_PER_TURN_MAX; issue_index++) {
        if (conn->pending_count >= depth) {
            return;
        }
        if (load->mode == MODE_PREFILL && load->prefill_next_key == load->options->key_count) {
            return;
        }
        if (load->mode == MODE_CLOSED && now_ns >= load->end_ns) {
            return;
        }
        if (!conn_request_append(load, conn)) {
            return;
        }
        pending_push(load, conn, now_ns);
    }
}

/* One complete reply: pops its intended time and records it if it was in the measured window.
 * Returns -1 for a reply nobody asked for (the stream is out of step). */
static int conn_on_reply(struct load *load, struct conn *conn, uint64_t now_ns, bool is_error)
{
    if (conn->pending_count == 0) {
        fprintf(stderr, "kv-load: connection %u: reply with no request outstanding\n",
                conn->index);
        return -1;
    }
    uint64_t intended_ns = pending_pop(load, conn);
    LOAD_ASSERT(intended_ns <= now_ns);
    if (load->mode == MODE_PREFILL) {
        load->prefill_error_count += is_error ? 1u : 0u;
        return 0;
    }
    if (intended_ns >= load->measure_start_ns && intended_ns < load->end_ns) {
        histogram_record(&load->histogram, now_ns - intended_ns);
        load->recorded_count++;
        load->error_count += is_error ? 1u : 0u;
    }
    return 0;
}

/* Parses every complete reply in the receive buffer, then moves the incomplete tail (at most a
 * header line) to the front. Bounded: each reply consumes at least 3 bytes. */
static int conn_parse_replies(struct load *load, struct conn *conn, uint64_t now_ns)
{
    uint32_t offset = 0;
    while (offset < conn->recv_fill_bytes) {
        uint32_t consumed_bytes = 0;
        bool is_error = false;
        enum reply_status status = reply_parse(&conn->parser, conn->recv_buffer + offset,
                                               conn->recv_fill_bytes - offset, &consumed_bytes,
                                               &is_error);
        if (status == REPLY_MALFORMED) {
            fprintf(stderr, "kv-load: connection %u: malformed reply\n", conn->index);
            return -1;
        }
        offset += consumed_bytes;
        if (status == REPLY_NEED_MORE) {
            break;
        }
        LOAD_ASSERT(consumed_bytes > 0);
        if (conn_on_reply(load, conn, now_ns, is_error) < 0) {
            return -1;
        }
    }
    LOAD_ASSERT(offset <= conn->recv_fill_bytes);
    uint32_t tail_bytes = conn->recv_fill_bytes - offset;
    LOAD_ASSERT(tail_bytes <= RESP_LINE_BYTES_MAX);
    memmove(conn->recv_buffer, conn->recv_buffer + offset, tail_bytes);
    conn->recv_fill_bytes = tail_bytes;
    return 0;
}

/* One read per readiness event (level-triggered epoll reports again if more is waiting). */
static int conn_on_readable(struct load *load, struct conn *conn)
{
    uint32_t room_bytes = RECV_BUFFER_BYTES - conn->recv_fill_bytes;
    LOAD_ASSERT(room_bytes > 0);
    ssize_t received = recv(conn->fd, conn->recv_buffer + conn->recv_fill_bytes, room_bytes, 0);
    if (received == 0) {
        fprintf(stderr, "kv-load: connection %u: server closed the connection\n", conn->index);
        return -1;
    }
    if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        fprintf(stderr, "kv-load: connection %u: receive failed: %s\n", conn->index,
                strerror(errno));
        return -1;
    }
    uint64_t now_ns = clock_now_ns(); /* one reply time for everything this read brought */
    LOAD_ASSERT((uint32_t)received <= room_bytes);
    conn->recv_fill_bytes += (uint32_t)received;
    return conn_parse_replies(load, conn, now_ns);
}

/* Connects one socket, blocking (loopback answers at once), then makes it non-blocking. */
static int conn_connect(struct load *load, struct conn *conn)
{
    const struct options *options = load->options;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "kv-load: socket: %s (raise ulimit -n?)\n", strerror(errno));
        return -1;
    }
    conn->fd = fd;
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_port = htons((uint16_t)options->port);
    address.sin_addr = options->host_address;
    if (connect(fd, (const struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "kv-load: cannot connect to %s:%u: %s (is the server running?)\n",
                options->host_text, options->port, strerror(errno));
        return -1;
    }
    int enable = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof enable) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        fprintf(stderr, "kv-load: connection %u: socket setup: %s\n", conn->index,
                strerror(errno));
        return -1;
    }
    struct epoll_event event = {.events = EPOLLIN};
    event.data.u32 = conn->index;
    if (epoll_ctl(load->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        fprintf(stderr, "kv-load: epoll_ctl: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- Event loop --------------------------------------------------------------------------- */

static bool load_issuing_finished(const struct load *load, uint64_t now_ns)
{
    if (load->mode == MODE_PREFILL) {
        return load->prefill_next_key == load->options->key_count;
    }
    return now_ns >= load->end_ns;
}

/* Issues what is due on every connection and starts writing it. */
static int load_issue_all(struct load *load, uint64_t now_ns)
{
    for (uint32_t conn_index = 0; conn_index < load->options->connection_count; conn_index++) {
        struct conn *conn = &load->conns[conn_index];
        if (load->mode == MODE_OPEN) {
            conn_issue_open(load, conn, now_ns);
        } else {
            conn_issue_closed(load, conn, now_ns);
        }
        if (!conn->want_write && conn_flush(load, conn) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The next time the loop must wake without socket events: the next due send on a connection
 * that has room to send it, or the end of issuing, or the drain deadline. A connection with a
 * full send buffer waits for EPOLLOUT instead, so a stuck socket cannot make the loop spin. */
static uint64_t load_wake_ns(const struct load *load, uint64_t now_ns)
{
    uint64_t wake_ns = now_ns < load->end_ns ? load->end_ns : load->drain_deadline_ns;
    for (uint32_t conn_index = 0; conn_index < load->options->connection_count; conn_index++) {
        const struct conn *conn = &load->conns[conn_index];
        if (conn->send_blocked) {
            continue;
        }
        if (load->mode == MODE_OPEN) {
            uint64_t due_ns = conn_schedule_ns(load, conn, conn->scheduled_count);
            if (due_ns < load->end_ns && due_ns < wake_ns) {
                wake_ns = due_ns;
            }
        } else if (!load_issuing_finished(load, now_ns)) {
            uint32_t depth = load->mode == MODE_PREFILL ? PREFILL_PIPELINE_DEPTH
                                                        : load->options->pipeline_depth;
            if (conn->pending_count < depth) {
                wake_ns = now_ns; /* SENDS_PER_TURN_MAX stopped the top-up: continue it */
            }
        }
    }
    return wake_ns;
}

/* Arms the timerfd at wake_ns and returns the epoll_wait timeout in ms (0 if already due). */
static int load_timer_arm(struct load *load, uint64_t now_ns, uint64_t wake_ns)
{
    if (wake_ns <= now_ns) {
        return 0;
    }
    if (wake_ns != load->timer_armed_ns) {
        struct itimerspec expiry = {0};
        expiry.it_value.tv_sec = (time_t)(wake_ns / NS_PER_SEC);
        expiry.it_value.tv_nsec = (long)(wake_ns % NS_PER_SEC);
        int result = timerfd_settime(load->timer_fd, TFD_TIMER_ABSTIME, &expiry, NULL);
        LOAD_ASSERT(result == 0); /* a valid fd and time: only our bug could fail this */
        load->timer_armed_ns = wake_ns;
    }
    return WAIT_MS_MAX;
}

static int load_on_event(struct load *load, const struct epoll_event *event)
{
    if (event->data.u32 == TIMER_TOKEN) {
        uint64_t expiration_count = 0;
        ssize_t bytes = read(load->timer_fd, &expiration_count, sizeof expiration_count);
        LOAD_ASSERT(bytes == (ssize_t)sizeof expiration_count || errno == EAGAIN);
        return 0;
    }
    LOAD_ASSERT(event->data.u32 < load->options->connection_count);
    struct conn *conn = &load->conns[event->data.u32];
    if ((event->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        if (conn_on_readable(load, conn) < 0) {
            return -1; /* a hang-up or error shows as a closed or failed receive */
        }
    }
    if ((event->events & EPOLLOUT) != 0) {
        return conn_flush(load, conn);
    }
    return 0;
}

/* At the drain deadline: every request still outstanding is a timeout. One intended in the
 * measured window also enters the histogram at its latency so far, a lower bound, so replies
 * that never came cannot flatter the percentiles. Bounded by the pending counts. */
static void load_expire_outstanding(struct load *load, uint64_t now_ns)
{
    for (uint32_t conn_index = 0; conn_index < load->options->connection_count; conn_index++) {
        struct conn *conn = &load->conns[conn_index];
        while (conn->pending_count > 0) {
            uint64_t intended_ns = pending_pop(load, conn);
            LOAD_ASSERT(intended_ns <= now_ns);
            load->timeout_count++;
            if (load->mode != MODE_PREFILL && intended_ns >= load->measure_start_ns &&
                intended_ns < load->end_ns) {
                histogram_record(&load->histogram, now_ns - intended_ns);
            }
        }
    }
    LOAD_ASSERT(load->pending_total == 0);
}

/* The event loop of one phase, the one endless loop: it ends when issuing is finished and every
 * reply is in, or at drain_deadline_ns (the clock is read every turn). Each turn issues at most
 * SENDS_PER_TURN_MAX requests per connection and handles at most EPOLL_EVENTS_MAX events.
 * Returns 0, or -1 after printing why a connection failed. */
static int load_run_phase(struct load *load)
{
    struct epoll_event events[EPOLL_EVENTS_MAX];
    for (;;) {
        uint64_t now_ns = clock_now_ns();
        if (now_ns >= load->drain_deadline_ns) {
            load_expire_outstanding(load, now_ns);
            break;
        }
        if (load_issuing_finished(load, now_ns) && load->pending_total == 0) {
            break;
        }
        if (load_issue_all(load, now_ns) < 0) {
            return -1;
        }
        int timeout_ms = load_timer_arm(load, now_ns, load_wake_ns(load, now_ns));
        int event_count = epoll_wait(load->epoll_fd, events, EPOLL_EVENTS_MAX, timeout_ms);
        if (event_count < 0 && errno != EINTR) {
            fprintf(stderr, "kv-load: epoll_wait: %s\n", strerror(errno));
            return -1;
        }
        for (int event_index = 0; event_index < event_count; event_index++) {
            if (load_on_event(load, &events[event_index]) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int load_prefill(struct load *load)
{
    load->mode = MODE_PREFILL;
    load->start_ns = clock_now_ns();
    load->measure_start_ns = load->start_ns;
    load->end_ns = load->start_ns + PREFILL_TIMEOUT_NS;
    load->drain_deadline_ns = load->end_ns;
    load->prefill_next_key = 0;
    if (load_run_phase(load) < 0) {
        return -1;
    }
    if (load->timeout_count > 0 || load->prefill_next_key < load->options->key_count) {
        fprintf(stderr, "kv-load: prefill of %u keys did not finish within %llu s\n",
                load->options->key_count, (unsigned long long)(PREFILL_TIMEOUT_NS / NS_PER_SEC));
        return -1;
    }
    if (load->prefill_error_count > 0) {
        fprintf(stderr, "kv-load: prefill: %llu SETs answered with an error\n",
                (unsigned long long)load->prefill_error_count);
        return -1;
    }
    LOAD_ASSERT(load->pending_total == 0);
    return 0;
}

static int load_measure(struct load *load)
{
    const struct options *options = load->options;
    load->mode = options->rate_per_sec > 0 ? MODE_OPEN : MODE_CLOSED;
    if (load->mode == MODE_OPEN) {
        load->interval_ns = (double)options->connection_count / options->rate_per_sec *
                            (double)NS_PER_SEC;
    }
    load->start_ns = clock_now_ns();
    load->measure_start_ns = load->start_ns + (uint64_t)(options->warmup_sec * (double)NS_PER_SEC);
    load->end_ns = load->measure_start_ns +
                   (uint64_t)(options->duration_sec * (double)NS_PER_SEC);
    load->drain_deadline_ns = load->end_ns + DRAIN_NS;
    return load_run_phase(load);
}

/* ---- Startup ------------------------------------------------------------------------------ */

/* Allocates every buffer the run will use, once. Returns -1 (after a message) on failure. */
static int load_init(struct load *load, const struct options *options)
{
    memset(load, 0, sizeof *load);
    load->epoll_fd = -1;
    load->timer_fd = -1;
    load->options = options;
    load->random_state = options->seed;
    load->request_bytes_max = REQUEST_FRAME_BYTES_MAX + options->value_bytes;
    load->value = malloc((size_t)options->value_bytes + 1u);
    load->conns = calloc(options->connection_count, sizeof *load->conns);
    if (load->value == NULL || load->conns == NULL) {
        fprintf(stderr, "kv-load: out of memory\n");
        return -1;
    }
    memset(load->value, 'x', (size_t)options->value_bytes + 1u);
    for (uint32_t conn_index = 0; conn_index < options->connection_count; conn_index++) {
        struct conn *conn = &load->conns[conn_index];
        conn->fd = -1;
        conn->index = conn_index;
        conn->send_buffer = malloc(SEND_BUFFER_BYTES);
        conn->recv_buffer = malloc(RECV_BUFFER_BYTES);
        conn->pending_intended_ns = malloc(PENDING_RING_COUNT * sizeof(uint64_t));
        if (conn->send_buffer == NULL || conn->recv_buffer == NULL ||
            conn->pending_intended_ns == NULL) {
            fprintf(stderr, "kv-load: out of memory for %u connections\n",
                    options->connection_count);
            return -1;
        }
    }
    load->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    load->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (load->epoll_fd < 0 || load->timer_fd < 0) {
        fprintf(stderr, "kv-load: epoll or timerfd: %s\n", strerror(errno));
        return -1;
    }
    struct epoll_event event = {.events = EPOLLIN};
    event.data.u32 = TIMER_TOKEN;
    int result = epoll_ctl(load->epoll_fd, EPOLL_CTL_ADD, load->timer_fd, &event);
    LOAD_ASSERT(result == 0);
    return 0;
}

/* Closes every descriptor and frees every buffer. Safe after a partial load_init. */
static void load_release(struct load *load)
{
    for (uint32_t conn_index = 0; load->conns != NULL &&
                                  conn_index < load->options->connection_count; conn_index++) {
        struct conn *conn = &load->conns[conn_index];
        if (conn->fd >= 0) {
            close(conn->fd);
        }
        free(conn->send_buffer);
        free(conn->recv_buffer);
        free(conn->pending_intended_ns);
    }
    if (load->epoll_fd >= 0) {
        close(load->epoll_fd);
    }
    if (load->timer_fd >= 0) {
        close(load->timer_fd);
    }
    free(load->conns);
    free(load->value);
}

/* ---- Flags -------------------------------------------------------------------------------- */

enum flag_code {
    FLAG_HOST = 256,
    FLAG_PORT,
    FLAG_CONNECTIONS,
    FLAG_RATE,
    FLAG_DURATION,
    FLAG_WARMUP,
    FLAG_COMMAND,
    FLAG_MIX_SET_PERCENT,
    FLAG_KEYS,
    FLAG_VALUE_SIZE,
    FLAG_PREFILL,
    FLAG_PIPELINE,
    FLAG_SEED,
    FLAG_CSV,
    FLAG_HELP,
};

static const struct option flag_table[] = {
    {"host", required_argument, NULL, FLAG_HOST},
    {"port", required_argument, NULL, FLAG_PORT},
    {"connections", required_argument, NULL, FLAG_CONNECTIONS},
    {"rate", required_argument, NULL, FLAG_RATE},
    {"duration", required_argument, NULL, FLAG_DURATION},
    {"warmup", required_argument, NULL, FLAG_WARMUP},
    {"command", required_argument, NULL, FLAG_COMMAND},
    {"mix-set-percent", required_argument, NULL, FLAG_MIX_SET_PERCENT},
    {"keys", required_argument, NULL, FLAG_KEYS},
    {"value-size", required_argument, NULL, FLAG_VALUE_SIZE},
    {"prefill", no_argument, NULL, FLAG_PREFILL},
    {"pipeline", required_argument, NULL, FLAG_PIPELINE},
    {"seed", required_argument, NULL, FLAG_SEED},
    {"csv", no_argument, NULL, FLAG_CSV},
    {"help", no_argument, NULL, FLAG_HELP},
    {NULL, 0, NULL, 0},
};

static void usage_print(FILE *stream)
{
    fprintf(stream,
            "usage: kv-load [--host 127.0.0.1] [--port 6379] [--connections 50] [--rate 10000]\n"
            "               [--duration 5] [--warmup 1] [--command get|set|mix|ping|lpush|lrange]\n"
            "               [--mix-set-percent 10] [--keys 1000] [--value-size 64] [--prefill]\n"
            "               [--pipeline 1] [--seed 1] [--csv]\n"
            "Open-loop RESP load over loopback: latency from each request's intended send time.\n"
            "--rate 0 runs closed loop with --pipeline requests outstanding per connection.\n");
}

static bool parse_unsigned(const char *flag, const char *text, uint64_t min, uint64_t max,
                           uint64_t *value_out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || errno != 0 || *end != '\0' || value < min ||
        value > max) {
        fprintf(stderr, "kv-load: --%s expects an integer in [%llu, %llu], got '%s'\n", flag,
                (unsigned long long)min, (unsigned long long)max, text);
        return false;
    }
    *value_out = value;
    return true;
}

static bool parse_uint32(const char *flag, const char *text, uint32_t min, uint32_t max,
                         uint32_t *value_out)
{
    uint64_t value = 0;
    if (!parse_unsigned(flag, text, min, max, &value)) {
        return false;
    }
    *value_out = (uint32_t)value;
    return true;
}

static bool parse_number(const char *flag, const char *text, double min, double max,
                         double *value_out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(value) || value < min ||
        value > max) {
        fprintf(stderr, "kv-load: --%s expects a number in [%g, %g], got '%s'\n", flag, min,
                max, text);
        return false;
    }
    *value_out = value;
    return true;
}

static bool parse_host(const char *text, struct options *options)
{
    struct in_addr address;
    if (inet_pton(AF_INET, text, &address) != 1 || (ntohl(address.s_addr) >> 24) != 127u) {
        fprintf(stderr, "kv-load: --host '%s' refused: loopback only, give an IPv4 address in "
                        "127.0.0.0/8\n", text);
        return false;
    }
    options->host_address = address;
    const char *written = inet_ntop(AF_INET, &address, options->host_text,
                                    sizeof options->host_text);
    LOAD_ASSERT(written != NULL);
    return true;
}

static bool parse_command(const char *text, enum command_kind *kind_out)
{
    for (uint32_t kind_index = 0; kind_index < COMMAND_KIND_COUNT; kind_index++) {
        if (strcmp(text, command_names[kind_index]) == 0) {
            *kind_out = (enum command_kind)kind_index;
            return true;
        }
    }
    fprintf(stderr, "kv-load: --command expects get, set, mix, ping, lpush or lrange, got '%s'\n",
            text);
    return false;
}

/* Applies one flag; false means it was refused (the message is printed). */
static bool options_apply(struct options *options, int code, const char *argument)
{
    switch (code) {
    case FLAG_HOST: return parse_host(argument, options);
    case FLAG_PORT: return parse_uint32("port", argument, 1, 65535, &options->port);
    case FLAG_CONNECTIONS:
        return parse_uint32("connections", argument, 1, CONNECTIONS_MAX,
                            &options->connection_count);
    case FLAG_RATE:
        return parse_number("rate", argument, 0, RATE_PER_SEC_MAX, &options->rate_per_sec);
    case FLAG_DURATION:
        return parse_number("duration", argument, 0.001, SECONDS_MAX, &options->duration_sec);
    case FLAG_WARMUP: return parse_number("warmup", argument, 0, SECONDS_MAX, &options->warmup_sec);
    case FLAG_COMMAND: return parse_command(argument, &options->command);
    case FLAG_MIX_SET_PERCENT:
        return parse_uint32("mix-set-percent", argument, 0, 100, &options->mix_set_percent);
    case FLAG_KEYS: return parse_uint32("keys", argument, 1, KEY_COUNT_MAX, &options->key_count);
    case FLAG_VALUE_SIZE:
        return parse_uint32("value-size", argument, 0, VALUE_BYTES_MAX, &options->value_bytes);
    case FLAG_PREFILL: options->prefill = true; return true;
    case FLAG_PIPELINE:
        return parse_uint32("pipeline", argument, 1, PIPELINE_DEPTH_MAX,
                            &options->pipeline_depth);
    case FLAG_SEED: return parse_unsigned("seed", argument, 0, UINT64_MAX, &options->seed);
    case FLAG_CSV: options->csv = true; return true;
    default: return false; /* getopt_long already named the unknown flag */
    }
}

/* Returns -1 to continue, or the exit status (0 for --help, EXIT_BAD_FLAG). */
static int options_parse(int argc, char **argv, struct options *options)
{
    *options = (struct options){
        .port = 6379, .connection_count = 50, .rate_per_sec = 10000, .duration_sec = 5,
        .warmup_sec = 1, .command = COMMAND_GET, .mix_set_percent = 10, .key_count = 1000,
        .value_bytes = 64, .pipeline_depth = 1, .seed = 1,
    };
    bool host_ok = parse_host("127.0.0.1", options);
    LOAD_ASSERT(host_ok);
    for (int flag_index = 0; flag_index < argc; flag_index++) { /* one flag per pass at most */
        int code = getopt_long(argc, argv, "", flag_table, NULL);
        if (code == -1) {
            break;
        }
        if (code == FLAG_HELP) {
            usage_print(stdout);
            return 0;
        }
        if (!options_apply(options, code, optarg)) {
            usage_print(stderr);
            return EXIT_BAD_FLAG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kv-load: unexpected argument '%s' (flags start with --)\n", argv[optind]);
        return EXIT_BAD_FLAG;
    }
    return -1;
}

/* ---- Report ------------------------------------------------------------------------------- */

static void report_print(const struct load *load)
{
    const struct options *options = load->options;
    const struct histogram *histogram = &load->histogram;
    double achieved_per_sec = (double)load->recorded_count / options->duration_sec;
    static const uint64_t per_millions[5] = {500000, 900000, 990000, 999000, 999900};
    uint64_t percentiles_us[5];
    for (uint32_t quantile_index = 0; quantile_index < 5u; quantile_index++) {
        percentiles_us[quantile_index] = histogram_percentile_us(histogram,
                                                                 per_millions[quantile_index]);
    }
    double max_us = (double)histogram->max_ns / (double)NS_PER_US;
    if (options->csv) {
        printf("command,connections,rate,achieved_rps,requests,errors,"
               "p50_us,p90_us,p99_us,p999_us,p9999_us,max_us\n");
        printf("%s,%u,%.*f,%.1f,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.1f\n",
               command_names[options->command], options->connection_count,
               options->rate_per_sec == floor(options->rate_per_sec) ? 0 : 1,
               options->rate_per_sec, achieved_per_sec, (unsigned long long)load->recorded_count,
               (unsigned long long)load->error_count, (unsigned long long)percentiles_us[0],
               (unsigned long long)percentiles_us[1], (unsigned long long)percentiles_us[2],
               (unsigned long long)percentiles_us[3], (unsigned long long)percentiles_us[4],
               max_us);
        if (load->timeout_count > 0 || load->dropped_schedule_count > 0) {
            fprintf(stderr, "kv-load: warning: timeouts %llu  dropped_schedule %llu\n",
                    (unsigned long long)load->timeout_count,
                    (unsigned long long)load->dropped_schedule_count);
        }
        return;
    }
    printf("kv-load: %s:%u %s", options->host_text, options->port,
           command_names[options->command]);
    if (options->command == COMMAND_MIX) {
        printf(" (%u%% SET)", options->mix_set_percent);
    }
    printf(", %u connections, ", options->connection_count);
    if (options->rate_per_sec > 0) {
        printf("open loop at %.10g req/s", options->rate_per_sec);
    } else {
        printf("closed loop with pipeline %u", options->pipeline_depth);
    }
    printf(" for %.1f s (+%.1f s warmup)\n", options->duration_sec, options->warmup_sec);
    printf("requests %llu  errors %llu  timeouts %llu  achieved %.1f req/s  "
           "dropped_schedule %llu\n",
           (unsigned long long)load->recorded_count, (unsigned long long)load->error_count,
           (unsigned long long)load->timeout_count, achieved_per_sec,
           (unsigned long long)load->dropped_schedule_count);
    printf("latency us: p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  p99.99 %llu  max %.0f\n",
           (unsigned long long)percentiles_us[0], (unsigned long long)percentiles_us[1],
           (unsigned long long)percentiles_us[2], (unsigned long long)percentiles_us[3],
           (unsigned long long)percentiles_us[4], ceil(max_us));
}

int main(int argc, char **argv)
{
    struct options options;
    int parse_status = options_parse(argc, argv, &options);
    if (parse_status >= 0) {
        return parse_status;
    }
    static struct load load; /* static: the histogram is too large for a comfortable stack */
    int status = 0;
    if (load_init(&load, &options) < 0) {
        status = EXIT_RUN_FAILED;
    }
    for (uint32_t conn_index = 0; status == 0 && conn_index < options.connection_count;
         conn_index++) {
        if (conn_connect(&load, &load.conns[conn_index]) < 0) {
            status = EXIT_RUN_FAILED;
        }
    }
    if (status == 0 && options.prefill && load_prefill(&load) < 0) {
        status = EXIT_RUN_FAILED;
    }
    if (status == 0 && load_measure(&load) < 0) {
        status = EXIT_RUN_FAILED;
    }
    if (status == 0) {
        report_print(&load);
    }
    load_release(&load);
    return status;
}
