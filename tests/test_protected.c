/*
 * Protected mode refuses exactly the clients Redis refuses: from outside 127.0.0.0/8, while
 * protected_mode is on and no password is asked; and the line they get is Redis's -DENIED.
 * (Tests listen on loopback only, so the decision is tested here rather than over a socket.)
 */
#include <string.h>

#include "check.h"
#include "config.h"
#include "protected.h"

static uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    return (a << 24) | (b << 16) | (c << 8) | d;
}

int main(void)
{
    struct config config;
    config_defaults(&config);
    CHECK(config.protected_mode == 1);
    CHECK(!protected_refuses(&config, ipv4(127, 0, 0, 1)));
    CHECK(!protected_refuses(&config, ipv4(127, 255, 1, 2)));
    CHECK(protected_refuses(&config, ipv4(10, 0, 0, 7)));
    CHECK(protected_refuses(&config, ipv4(192, 168, 1, 1)));
    CHECK(protected_refuses(&config, ipv4(128, 0, 0, 1)));
    char error[256];
    CHECK(config_set(&config, "requirepass", "secret", error, sizeof(error)) == 0);
    CHECK(!protected_refuses(&config, ipv4(10, 0, 0, 7))); /* a password is asked */
    CHECK(config_set(&config, "requirepass", "", error, sizeof(error)) == 0);
    CHECK(config_set(&config, "protected_mode", "no", error, sizeof(error)) == 0);
    CHECK(!protected_refuses(&config, ipv4(10, 0, 0, 7)));
    CHECK(config_set(&config, "protected_mode", "maybe", error, sizeof(error)) != 0);
    struct slice line = protected_denied_line();
    CHECK(line.length > 100);
    CHECK(memcmp(line.bytes, "-DENIED Redis is running in protected mode", 42) == 0);
    CHECK(memcmp(line.bytes + line.length - 2, "\r\n", 2) == 0);
    CHECK(memchr(line.bytes, '\n', line.length - 1) == NULL);
    return check_exit("test_protected");
}
