/*
 * Proves sha1.c computes SHA-1: the FIPS 180-4 and RFC 3174 vectors (empty, "abc", the
 * 448-bit and 896-bit messages, a million 'a's), every length around the padding's block
 * boundaries (55, 56, 63, 64, 119, 120 bytes) against digests computed by Python's hashlib,
 * and the script name Redis gives "return 1" (EVAL's SHA-1 in lower-case hex).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sha1.h"

static void check_hex(const char *message, size_t length, const char *want)
{
    char hex[SHA1_HEX_BYTES + 1];
    sha1_hex((const uint8_t *)message, length, hex);
    CHECK_STR(hex, want);
}

int main(void)
{
    check_hex("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_hex("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(m448, strlen(m448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                       "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_hex(m896, strlen(m896), "a49b2446a02c645bf419f995b67091253a04a259");
    check_hex("return 1", 8, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    /* Lengths at the padding's edges: a run of 'x' of each length (digests from hashlib). */
    static const struct {
        size_t length;
        const char *want;
    } edges[] = {
        {55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1"},
        {56, "901305367c259952f4e7af8323f480d59f81335b"},
        {63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec"},
        {64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163"},
        {119, "4300320394f7ee239bcdce7d3b8bcee173a0cd5c"},
        {120, "ceb2821639c4b6dcb10bce0e522ca2e608ce056d"},
    };
    char run[128];
    memset(run, 'x', sizeof(run));
    for (size_t index = 0; index < sizeof(edges) / sizeof(edges[0]); index++) {
        check_hex(run, edges[index].length, edges[index].want);
    }
    char *million = malloc(1000000);
    CHECK(million != NULL);
    if (million != NULL) {
        memset(million, 'a', 1000000);
        check_hex(million, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        free(million);
    }
    return check_exit("test_sha1");
}
