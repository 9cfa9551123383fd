/*
 * Protected mode: the decision, and Redis 7's refusal line (from reply.c's error table),
 * which clients and tools match on.
 */
#include "protected.h"

#include "reply.h"

bool protected_refuses(const struct config *config, uint32_t peer_address)
{
    bool loopback = (peer_address >> 24) == 127u; /* 127.0.0.0/8 */
    return config->protected_mode && config->requirepass[0] == '\0' && !loopback;
}

struct slice protected_denied_line(void)
{
    return reply_error_line(REPLY_ERROR_DENIED);
}
