/*
 * Proves the region maps exactly the planned bytes rounded to its page size, hands out
 * aligned pieces up to its very end, locks when asked (when the host allows it), and stops a
 * carve after the seal (SIGABRT in a forked child). With 2 MiB hugepages reserved on the host
 * (CI reserves some), it also maps on them; without, that part reports itself skipped.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "region.h"

static void test_carving(void)
{
    struct region region;
    char error[256];
    CHECK(region_map(&region, 10000, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                     sizeof(error)) == 0);
    CHECK(region.page_bytes == (uint64_t)sysconf(_SC_PAGESIZE));
    CHECK(region.bytes == 12288 && !region.hugetlb && !region.locked);
    uint8_t *first = region_carve(&region, 1, 1);
    uint8_t *aligned = region_carve(&region, 100, 64);
    CHECK(first == region.base);
    CHECK(((uintptr_t)aligned % 64) == 0 && aligned == region.base + 64);
    uint64_t left = region.bytes - region.carved_bytes;
    uint8_t *last = region_carve(&region, left, 1);
    CHECK(last + left == region.base + region.bytes); /* carving exactly to the end works */
    last[left - 1] = 1;
    region_seal(&region);
    pid_t child = fork();
    if (child == 0) {
        freopen("/dev/null", "w", stderr);
        (void)region_carve(&region, 0, 1);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    region_unmap(&region);
}

static void test_lock(void)
{
    struct region region;
    char error[256];
    CHECK(region_map(&region, 1 << 20, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_AUTO, error,
                     sizeof(error)) == 0);
    /* Root (or a memlock limit above 1 MiB) can lock; anyone else gets a warning. */
    if (geteuid() == 0) {
        CHECK(region.locked);
    }
    region_unmap(&region);
}

static void test_hugepages(void)
{
    FILE *file = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
    unsigned long free_pages = 0;
    if (file == NULL || fscanf(file, "%lu", &free_pages) != 1 || free_pages < 2) {
        printf("test_region: no free 2 MiB hugepages: hugepage mapping not exercised\n");
        if (file != NULL) {
            fclose(file);
        }
        return;
    }
    fclose(file);
    struct region region;
    char error[256];
    CHECK(region_map(&region, 3 << 20, CONFIG_HUGEPAGES_2M, CONFIG_MLOCK_AUTO, error,
                     sizeof(error)) == 0);
    CHECK(region.hugetlb && region.page_bytes == (2u << 20));
    CHECK(region.bytes == (4u << 20));
    region_unmap(&region);
}

int main(void)
{
    test_carving();
    test_lock();
    test_hugepages();
    return check_exit("test_region");
}
