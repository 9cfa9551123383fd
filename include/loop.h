/*
 * The event loop: one io_uring driving every socket from one thread. It owns the ring and
 * the listening socket, and does the I/O the serving layer asks for; commands run in serve
 * and cmd, timed work in cron. Only this module includes liburing.h.
 */
#ifndef KV_LOOP_H
#define KV_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "cron.h"
#include "kv_assert.h"
#include "region.h"
#include "serve.h"
#include "stats.h"

struct loop;

/* Listens, sets up the ring, registers files and the serving layer's buffers, carves and
 * registers the receive ring (the plan's recv_ring_count buffers). Returns 0, or a negative
 * errno with a one-line reason in `error`. */
KV_MUST_USE int loop_init(struct loop **loop_out, const struct config *config,
                          struct region *region, struct serve *serve, struct cron *cron,
                          struct stats *stats, char *error, size_t error_bytes);

/* Serves until SIGINT or SIGTERM; returns 0 on a clean stop. */
int loop_run(struct loop *loop);

/* The port actually listened on. */
uint32_t loop_port(const struct loop *loop);

/* Sets up and tears down a tiny ring: 0 when io_uring works here, else a negative errno. */
int loop_probe(void);

/* A slow script's busy pass (script_busy_pass_fn, script.h; `owner` is the loop): answers the
 * other clients once without waiting, never the one whose script runs. */
void loop_busy_pass(void *owner);

/* MIGRATE's synchronous exchanges with a target, on a second tiny ring (`owner` is the
 * loop; wired into cmd_handlers.h's struct cmd_migrate_io by main). Each call waits for at
 * most `timeout_ms`; negative errnos, -ETIMEDOUT when the time ran out. `host` is an IPv4
 * or IPv6 address (or "localhost"). connect returns the socket; recv the bytes read, 0 at
 * the peer's close. */
int loop_migrate_connect(void *owner, const char *host, uint32_t port, uint32_t timeout_ms);
int loop_migrate_send(void *owner, int fd, const uint8_t *bytes, uint32_t length,
                      uint32_t timeout_ms);
int loop_migrate_recv(void *owner, int fd, uint8_t *bytes, uint32_t capacity,
                      uint32_t timeout_ms);
void loop_migrate_close(void *owner, int fd);

/* Asks the loop to stop (from a signal handler). */
void loop_request_stop(void);

/* Asks the loop to call `reload` between passes (SIGHUP); it must not allocate. */
void loop_request_reload(void);
void loop_on_reload(struct loop *loop, void (*reload)(void));

#endif
