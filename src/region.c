/*
 * The region: kv's only mmap, mlock and madvise. At startup it maps one run of memory of
 * the planned size, backed by the largest page size the host offers and the policy allows
 * (1 GiB or 2 MiB explicit hugepages, else normal pages with MADV_HUGEPAGE), locks it and
 * writes one byte per page so that every page is resident before the first client (from up to
 * REGION_PREFAULT_THREADS_MAX threads, which end before kv serves). A bump
 * cursor then carves every pool from it until region_seal(); from then on carving is a bug.
 * Page sizes are discovered with libhugetlbfs; free counts come from sysfs.
 */
#include "region.h"

#include <errno.h>
#include <hugetlbfs.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define REGION_PAGE_1G (1ull << 30)
#define REGION_PAGE_2M (2ull << 20)

/* Hugepage sizes the host supports, at most this many (x86-64 has two). */
#define REGION_HUGEPAGE_SIZES_MAX 8

static uint64_t round_up(uint64_t value, uint64_t unit)
{
    KV_ASSERT(unit != 0 && (unit & (unit - 1)) == 0);
    return (value + unit - 1) & ~(unit - 1);
}

static bool host_has_page_size(uint64_t page_bytes)
{
    long sizes[REGION_HUGEPAGE_SIZES_MAX];
    int count = gethugepagesizes(sizes, REGION_HUGEPAGE_SIZES_MAX);
    for (int i = 0; i < count; i++) {
        if ((uint64_t)sizes[i] == page_bytes) {
            return true;
        }
    }
    return false;
}

/* Free pages of one hugepage size, from sysfs; 0 when unreadable. */
static uint64_t hugepages_free(uint64_t page_bytes)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
             page_bytes / 1024);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    uint64_t count = 0;
    if (fscanf(file, "%" SCNu64, &count) != 1) {
        count = 0;
    }
    fclose(file);
    return count;
}

static int page_log2(uint64_t page_bytes)
{
    return __builtin_ctzll(page_bytes);
}

/* Tries one explicit hugepage size; NULL (with a logged reason) when it cannot be had. */
static void *map_hugetlb(uint64_t bytes, uint64_t page_bytes, bool asked)
{
    const char *name = page_bytes == REGION_PAGE_1G ? "1GiB" : "2MiB";
    if (!host_has_page_size(page_bytes)) {
        if (asked) {
            log_warn("region: this host has no %s hugepages; falling back", name);
        }
        return NULL;
    }
    uint64_t need = round_up(bytes, page_bytes) / page_bytes;
    uint64_t have = hugepages_free(page_bytes);
    if (have < need) {
        if (asked) {
            log_warn("region: %" PRIu64 " free %s hugepages, the plan needs %" PRIu64
                     "; reserve them (echo %" PRIu64 " > /sys/kernel/mm/hugepages/hugepages-"
                     "%" PRIu64 "kB/nr_hugepages, or hugeadm --pool-pages-min) ; falling back",
                     have, name, need, need, page_bytes / 1024);
        }
        return NULL;
    }
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (page_log2(page_bytes) << MAP_HUGE_SHIFT);
    void *base = mmap(NULL, need * page_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) {
        log_warn("region: mmap of %" PRIu64 " %s hugepages failed (%s); falling back", need, name,
                 strerror(errno));
        return NULL;
    }
    return base;
}

static int map_pages(struct region *region, uint64_t bytes, enum config_hugepages hugepages,
                     char *error, size_t error_bytes)
{
    bool try_1g = hugepages == CONFIG_HUGEPAGES_AUTO || hugepages == CONFIG_HUGEPAGES_1G;
    bool try_2m = hugepages != CONFIG_HUGEPAGES_OFF;
    if (try_1g) {
        /* In auto mode a 1 GiB page only pays when the plan fills most of one. */
        bool worth = hugepages == CONFIG_HUGEPAGES_1G || bytes >= REGION_PAGE_1G / 2;
        void *base = worth ? map_hugetlb(bytes, REGION_PAGE_1G, hugepages == CONFIG_HUGEPAGES_1G)
                           : NULL;
        if (base != NULL) {
            region->base = base;
            region->page_bytes = REGION_PAGE_1G;
            region->hugetlb = true;
            return 0;
        }
    }
    if (try_2m) {
        void *base = map_hugetlb(bytes, REGION_PAGE_2M, hugepages != CONFIG_HUGEPAGES_AUTO);
        if (base != NULL) {
            region->base = base;
            region->page_bytes = REGION_PAGE_2M;
            region->hugetlb = true;
            return 0;
        }
    }
    uint64_t page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
    void *base = mmap(NULL, round_up(bytes, page_bytes), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int code = errno;
        snprintf(error, error_bytes, "region: mmap of %" PRIu64 " bytes failed: %s", bytes,
                 strerror(code));
        return -code;
    }
    if (hugepages != CONFIG_HUGEPAGES_OFF) {
        log_warn("region: no hugepages reserved for the plan; using %" PRIu64 "-byte pages with "
                 "transparent hugepages advised (see README: reserving hugepages)", page_bytes);
    }
    /* Transparent hugepages, where the host allows them, cut TLB misses on the pools. */
    (void)madvise(base, round_up(bytes, page_bytes), MADV_HUGEPAGE);
    region->base = base;
    region->page_bytes = page_bytes;
    region->hugetlb = false;
    return 0;
}

/* Startup prefaults the region from this many threads at most (startup is not serving: the
 * threads end before the first client, and page zeroing is what takes the time). */
#define REGION_PREFAULT_THREADS_MAX 8u

/* One thread's share of the region: lock it (when asked), then touch every page of it. */
struct region_slice {
    volatile uint8_t *bytes;  /* first byte of the share */
    uint64_t length;          /* bytes in the share, whole pages */
    uint64_t page_bytes;      /* the region's page size */
    bool lock;                /* mlock the share first */
    int lock_error;           /* errno of a refused mlock, 0 when locked or not asked */
};

static void *slice_prefault(void *argument)
{
    struct region_slice *slice = argument;
    if (slice->lock && mlock((const void *)slice->bytes, slice->length) != 0) {
        slice->lock_error = errno;
    }
    /* Bounded by the share's pages. mlock faulted them in already when it succeeded; the
     * touch is what faults them when locking is off or refused. */
    for (uint64_t offset = 0; offset < slice->length; offset += slice->page_bytes) {
        slice->bytes[offset] = 0;
    }
    return NULL;
}

/* Threads to use: the online CPUs, at most REGION_PREFAULT_THREADS_MAX, and one per page. */
static uint32_t prefault_threads(const struct region *region)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t threads = cpus > 0 ? (uint64_t)cpus : 1;
    threads = threads < REGION_PREFAULT_THREADS_MAX ? threads : REGION_PREFAULT_THREADS_MAX;
    uint64_t pages = region->bytes / region->page_bytes;
    return (uint32_t)(threads < pages ? threads : pages);
}

/* Locks (when asked) and prefaults the whole region in parallel shares; a thread that cannot
 * be started leaves its share to this one. Returns the first mlock errno, or 0. */
static int prefault_parallel(struct region *region, bool lock, uint32_t *threads_used)
{
    uint32_t threads = prefault_threads(region);
    KV_ASSERT(threads >= 1 && threads <= REGION_PREFAULT_THREADS_MAX);
    struct region_slice slices[REGION_PREFAULT_THREADS_MAX];
    pthread_t ids[REGION_PREFAULT_THREADS_MAX];
    bool started[REGION_PREFAULT_THREADS_MAX] = {false};
    uint64_t pages = region->bytes / region->page_bytes;
    uint64_t pages_each = pages / threads;
    for (uint32_t index = 0; index < threads; index++) {
        uint64_t first = index * pages_each;
        uint64_t count = index + 1 == threads ? pages - first : pages_each;
        slices[index] = (struct region_slice){.bytes = region->base + first * region->page_bytes,
                                              .length = count * region->page_bytes,
                                              .page_bytes = region->page_bytes,
                                              .lock = lock};
    }
    /* Slice 0 runs here, the rest on threads. */
    *threads_used = 1;
    for (uint32_t index = 1; index < threads; index++) {
        started[index] = pthread_create(&ids[index], NULL, slice_prefault, &slices[index]) == 0;
        *threads_used += started[index] ? 1 : 0;
    }
    slice_prefault(&slices[0]);
    int lock_error = slices[0].lock_error;
    for (uint32_t index = 1; index < threads; index++) {
        if (started[index]) {
            KV_ASSERT(pthread_join(ids[index], NULL) == 0);
        } else {
            slice_prefault(&slices[index]);
        }
        lock_error = lock_error != 0 ? lock_error : slices[index].lock_error;
    }
    return lock_error;
}

/* Locks and prefaults: every page resident (and locked, when the policy and the host allow)
 * before the first client. */
static int lock_and_prefault(struct region *region, enum config_mlock mlock_policy, char *error,
                             size_t error_bytes)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool lock = mlock_policy != CONFIG_MLOCK_OFF;
    uint32_t threads = 0;
    int code = prefault_parallel(region, lock, &threads);
    region->locked = lock && code == 0;
    if (lock && code != 0) {
        /* Some shares may be locked: unlock all, so the region is in one state. */
        (void)munlock(region->base, region->bytes);
        if (mlock_policy == CONFIG_MLOCK_REQUIRED) {
            snprintf(error, error_bytes,
                     "region: mlock of %" PRIu64 " bytes refused (%s) and mlock is required: "
                     "raise the memlock limit (ulimit -l, LimitMEMLOCK=infinity) or grant "
                     "CAP_IPC_LOCK",
                     region->bytes, strerror(code));
            return -code;
        }
        log_warn("region: mlock of %" PRIu64 " bytes refused (%s); serving unlocked memory: "
                 "raise the memlock limit (ulimit -l, LimitMEMLOCK=infinity) or grant "
                 "CAP_IPC_LOCK",
                 region->bytes, strerror(code));
    }
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t elapsed_ns = (int64_t)(end.tv_sec - start.tv_sec) * 1000000000 +
                         (int64_t)(end.tv_nsec - start.tv_nsec);
    uint64_t elapsed_ms = elapsed_ns > 0 ? (uint64_t)elapsed_ns / 1000000u : 0;
    region->prefault_ms = elapsed_ms;
    log_info("region: %" PRIu64 " bytes %s and prefaulted in %" PRIu64 " ms by %u threads",
             region->bytes, region->locked ? "locked" : "not locked", elapsed_ms, threads);
    return 0;
}

int region_map(struct region *region, uint64_t bytes, enum config_hugepages hugepages,
               enum config_mlock mlock_policy, char *error, size_t error_bytes)
{
    KV_ASSERT(bytes > 0);
    memset(region, 0, sizeof(*region));
    int result = map_pages(region, bytes, hugepages, error, error_bytes);
    if (result != 0) {
        return result;
    }
    region->bytes = round_up(bytes, region->page_bytes);
    result = lock_and_prefault(region, mlock_policy, error, error_bytes);
    if (result != 0) {
        region_unmap(region);
        return result;
    }
    KV_ASSERT(region->carved_bytes == 0);
    return 0;
}

void *region_carve(struct region *region, uint64_t bytes, uint64_t align)
{
    KV_ASSERT(!region->sealed);
    KV_ASSERT(align != 0 && (align & (align - 1)) == 0);
    uint64_t start = round_up(region->carved_bytes, align);
    /* Asking for more than the plan reserved is a plan bug, not a runtime condition. */
    KV_ASSERT(start <= region->bytes && bytes <= region->bytes - start);
    region->carved_bytes = start + bytes;
    return region->base + start;
}

void region_seal(struct region *region)
{
    KV_ASSERT(!region->sealed);
    KV_ASSERT(region->carved_bytes <= region->bytes);
    region->sealed = true;
}

void region_unmap(struct region *region)
{
    if (region->base != NULL) {
        KV_ASSERT(munmap(region->base, region->bytes) == 0);
    }
    memset(region, 0, sizeof(*region));
}

const char *region_page_name(const struct region *region)
{
    switch (region->page_bytes) {
    case REGION_PAGE_1G:
        return "1GiB";
    case REGION_PAGE_2M:
        return "2MiB";
    case 4096:
        return "4KiB";
    default:
        return "other";
    }
}
