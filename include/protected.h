/*
 * Protected mode, as Redis has it: while no password is asked (requirepass empty) and
 * protected_mode is on, a client from outside the loopback network gets Redis's -DENIED
 * line and is closed. kv binds 127.0.0.1 by default, so this guards a bind to a public
 * address that was made without a password.
 */
#ifndef KV_PROTECTED_H
#define KV_PROTECTED_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "slice.h"

/* Whether a peer (IPv4 address in host byte order) must be refused now. */
bool protected_refuses(const struct config *config, uint32_t peer_address);

/* The line the refused client gets: Redis 7's "-DENIED ...\r\n". */
struct slice protected_denied_line(void);

#endif
