/*
 * Keel's Linux baseline: the /init of a small initramfs that `cargo xtask
 * bench linux` boots on Debian's kernel under Keel's own QEMU and -icount
 * flags. It measures what the memory-manager and teardown benchmarks compare
 * Keel with, prints every sample as `BENCH <name> <N> <instructions>` on the
 * console (the line format of Keel's own benchmark programs), then
 * `BENCH done`, and powers the machine off. A step that fails prints
 * `BENCH failed: <what>` instead, so no figure of a broken run is believed.
 *
 * Counting: under `-icount shift=0` one guest instruction is one nanosecond
 * of virtual time. On x86_64 the TSC runs at 1000 MHz there, one tick per
 * instruction; on aarch64 cntvct_el0 runs at cntfrq_el0 (62.5 MHz), so one
 * tick is 1e9 / cntfrq instructions and cheap operations are timed in
 * batches.
 *
 * Memory (`mem-<mode> <pages>`): map, write one byte per page, unmap, for
 * 1, 16 and 256 pages; modes `immediate` (plain mmap, pages faulted in by the
 * writes), `populate` (MAP_POPULATE, no faults) and `delayed` (reserve
 * PROT_NONE, then mprotect read-write, then fault the pages in).
 *
 * Teardown (`kill-<kind> <N>`): a forked child makes N objects of one kind,
 * says so through a pipe and sleeps; the sample is kill(SIGKILL) to
 * waitpid() returning. `kill-empty 0` is a child that made nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
/* Samples per measurement; the host takes their median. */
#define SAMPLES 15
/* Teardown sizes, log-spaced; the host fits a line through them. */
static const unsigned long SIZES[] = {1, 3, 10, 30, 100, 300, 1000};
#define NSIZES (sizeof(SIZES) / sizeof(SIZES[0]))

/* Instructions per counter tick. */
static uint64_t tick_instructions = 1;

#if defined(__x86_64__)
static inline uint64_t ticks(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t counter_frequency(void)
{
	return 1000000000UL;
}
#elif defined(__aarch64__)
static inline uint64_t ticks(void)
{
	uint64_t v;
	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
	return v;
}

static uint64_t counter_frequency(void)
{
	uint64_t f;
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(f));
	return f;
}
#else
#error "baseline.c is built for x86_64 and aarch64 only"
#endif

static void power_off(void)
{
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Only reached if the kernel refused: init must not return. */
	for (;;)
		pause();
}

static void fail(const char *what, unsigned long n)
{
	printf("BENCH failed: %s %lu: %s\n", what, n, strerror(errno));
	power_off();
}

/* ---- memory ------------------------------------------------------------ */

enum mem_mode { IMMEDIATE, POPULATE, DELAYED };
static const char *const MEM_NAMES[] = {"mem-immediate", "mem-populate", "mem-delayed"};

static void touch(volatile char *p, unsigned long pages)
{
	for (unsigned long i = 0; i < pages; i++)
		p[i * PAGE] = 1;
}

static void mem_once(enum mem_mode mode, unsigned long pages)
{
	size_t len = pages * PAGE;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	int prot = PROT_READ | PROT_WRITE;
	if (mode == POPULATE)
		flags |= MAP_POPULATE;
	if (mode == DELAYED) {
		flags |= MAP_NORESERVE;
		prot = PROT_NONE;
	}
	char *p = mmap(NULL, len, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		fail(MEM_NAMES[mode], pages);
	if (mode == DELAYED && mprotect(p, len, PROT_READ | PROT_WRITE) != 0)
		fail(MEM_NAMES[mode], pages);
	touch(p, pages);
	if (munmap(p, len) != 0)
		fail(MEM_NAMES[mode], pages);
}

static void bench_memory(void)
{
	static const unsigned long pages[] = {1, 16, 256};
	for (int mode = IMMEDIATE; mode <= DELAYED; mode++) {
		for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
			unsigned long n = pages[i];
			/* At least 64 pages' work (over a million instructions) per
			 * sample, so aarch64's 16-instruction tick is lost in it. */
			unsigned long batch = n >= 64 ? 1 : 64 / n;
			mem_once(mode, n); /* warm-up, not counted */
			for (int s = 0; s < SAMPLES; s++) {
				uint64_t t0 = ticks();
				for (unsigned long b = 0; b < batch; b++)
					mem_once(mode, n);
				uint64_t t1 = ticks();
				printf("BENCH %s %lu %lu\n", MEM_NAMES[mode], n,
				       (unsigned long)((t1 - t0) * tick_instructions / batch));
			}
		}
	}
}

/* ---- teardown ---------------------------------------------------------- */

enum kind { EMPTY, EVENTFD, PIPE, SOCKETPAIR, VMA, MAPPING, PAGES, THREAD };
static const char *const KIND_NAMES[] = {"kill-empty",  "kill-eventfd", "kill-pipe",
					 "kill-socketpair", "kill-vma", "kill-mapping",
					 "kill-page", "kill-thread"};

static unsigned long threads_started;

static void *sleeper(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&threads_started, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

/* N one-page mappings a page apart, so that no two merge into one area. */
static int make_mappings(unsigned long n, int touched)
{
	char *base = mmap(NULL, 2 * n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || munmap(base, 2 * n * PAGE) != 0)
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		char *p = mmap(base + 2 * i * PAGE, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		if (touched)
			*(volatile char *)p = 1;
	}
	return 0;
}

static int make_threads(unsigned long n)
{
	pthread_attr_t attr;
	/* 64 KiB stacks, or the C library's least (128 KiB on aarch64). */
	size_t stack = 64 * 1024 < PTHREAD_STACK_MIN ? PTHREAD_STACK_MIN : 64 * 1024;
	if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, stack) != 0)
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, sleeper, NULL) != 0)
			return -1;
	}
	/* Every thread asleep in pause() before the parent kills them. */
	while (__atomic_load_n(&threads_started, __ATOMIC_SEQ_CST) < n)
		sched_yield();
	return 0;
}

/* Makes n objects of `kind` in this (child) process. */
static int make(enum kind kind, unsigned long n)
{
	int fds[2];
	switch (kind) {
	case EMPTY:
		return 0;
	case EVENTFD:
		for (unsigned long i = 0; i < n; i++)
			if (eventfd(0, 0) < 0)
				return -1;
		return 0;
	case PIPE:
		for (unsigned long i = 0; i < n; i++)
			if (pipe(fds) != 0)
				return -1;
		return 0;
	case SOCKETPAIR:
		for (unsigned long i = 0; i < n; i++)
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
				return -1;
		return 0;
	case VMA:
	case MAPPING:
		return make_mappings(n, kind == MAPPING);
	case PAGES: {
		if (n == 0)
			return 0;
		char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		touch(p, n);
		return 0;
	}
	case THREAD:
		return make_threads(n);
	}
	return -1;
}

/* One sample: a child with n objects of `kind`, SIGKILL to reaped. */
static uint64_t kill_once(enum kind kind, unsigned long n)
{
	int ready[2];
	int err = 0;
	if (pipe(ready) != 0)
		fail(KIND_NAMES[kind], n);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		fail(KIND_NAMES[kind], n);
	if (pid == 0) {
		/* The child sends 0 when its objects are made, else the errno. */
		close(ready[0]);
		err = make(kind, n) == 0 ? 0 : errno;
		if (write(ready[1], &err, sizeof(err)) != sizeof(err) || err != 0)
			_exit(1);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &err, sizeof(err)) != sizeof(err) || err != 0) {
		errno = err;
		fail(KIND_NAMES[kind], n);
	}
	close(ready[0]);
	int status;
	uint64_t t0 = ticks();
	if (kill(pid, SIGKILL) != 0 || waitpid(pid, &status, 0) != pid)
		fail(KIND_NAMES[kind], n);
	uint64_t t1 = ticks();
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		errno = ECHILD;
		fail(KIND_NAMES[kind], n);
	}
	return (t1 - t0) * tick_instructions;
}

static void bench_kind(enum kind kind, unsigned long n)
{
	kill_once(kind, n); /* warm-up, not counted */
	for (int s = 0; s < SAMPLES; s++)
		printf("BENCH %s %lu %lu\n", KIND_NAMES[kind], n,
		       (unsigned long)kill_once(kind, n));
}

static void bench_teardown(void)
{
	bench_kind(EMPTY, 0);
	for (int kind = EVENTFD; kind <= THREAD; kind++)
		for (size_t i = 0; i < NSIZES; i++)
			bench_kind(kind, SIZES[i]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	tick_instructions = 1000000000UL / counter_frequency();
	/* Two descriptors per pipe or socket pair at the largest N. */
	struct rlimit files = {8192, 8192};
	if (setrlimit(RLIMIT_NOFILE, &files) != 0)
		fail("setrlimit", 8192);
	bench_memory();
	bench_teardown();
	printf("BENCH done\n");
	power_off();
	return 0;
}
