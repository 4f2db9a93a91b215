/* Tests for common/fiber.c and common/fwait.c: fibers park without holding a carrier, wake from
 * other threads (also before they park), time out, keep their log context across carriers,
 * give their unused stack pages back while parked, and a burst of them made ready reaches every
 * idle carrier, and keep their own floating-point control; fcond and fsem serve threads and
 * fibers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fenv.h>

#include "clock.h"
#include "fiber.h"
#include "fwait.h"
#include "log.h"

static struct fiber_sched *
sched(int carriers)
{
	char err[256];
	struct fiber_sched *s = fiber_sched_new("test", carriers, 256 * 1024, err, sizeof(err));

	if (s == NULL)
		fail_msg("%s", err);
	return s;
}

static atomic_int now, peak, done;

static void
count_in(void)
{
	int n = atomic_fetch_add(&now, 1) + 1;

	for (int p = atomic_load(&peak); n > p;)
		if (atomic_compare_exchange_weak(&peak, &p, n))
			break;
}

static void
reset(void)
{
	atomic_store(&now, 0);
	atomic_store(&peak, 0);
	atomic_store(&done, 0);
}

/* Long enough for all 500 to be spawned before the first wakes; TSan makes a spawn slow. */
#if defined(__SANITIZE_THREAD__)
#define SLEEP_MS 2000
#else
#define SLEEP_MS 200
#endif

static void
sleeper(void *arg)
{
	(void)arg;
	if (fiber_self() == NULL)
		atomic_fetch_add(&done, 100000); /* no assert on a fiber: cmocka longjmps */
	count_in();
	fwait_sleep_ms(SLEEP_MS);
	atomic_fetch_sub(&now, 1);
	atomic_fetch_add(&done, 1);
}

/* 500 fibers sleeping on 2 carriers all sleep at once; fiber_sched_free waits for them. */
static void
test_parked_fibers_free_carriers(void **state)
{
	struct fiber_sched *s = sched(2);

	(void)state;
	reset();
	assert_null(fiber_self());
	for (int i = 0; i < 500; i++)
		assert_int_equal(fiber_spawn(s, sleeper, NULL), 0);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&done), 500);
	assert_int_equal(atomic_load(&peak), 500);
}

struct waiter {
	_Atomic(struct fiber *) self;
	atomic_bool go, ended;
	long parked_ms;
};

static void
wait_for_go(void *arg)
{
	struct waiter *w = arg;
	long t0 = clock_now_ms();

	atomic_store(&w->self, fiber_self());
	while (!atomic_load(&w->go))
		fiber_park(-1);
	w->parked_ms = clock_now_ms() - t0;
	atomic_store(&w->ended, true);
}

static void
wait_until(atomic_bool *flag)
{
	for (int i = 0; i < 500 && !atomic_load(flag); i++)
		usleep(10000);
	assert_true(atomic_load(flag));
}

/* A fiber parked without a timeout runs again when a plain thread wakes it. */
static void
test_wake_from_thread(void **state)
{
	struct fiber_sched *s = sched(1);
	struct waiter w = {NULL, false, false, 0};

	(void)state;
	assert_int_equal(fiber_spawn(s, wait_for_go, &w), 0);
	for (int i = 0; i < 500 && atomic_load(&w.self) == NULL; i++)
		usleep(10000);
	assert_non_null(atomic_load(&w.self));
	usleep(100000);
	assert_false(atomic_load(&w.ended));
	atomic_store(&w.go, true);
	fiber_wake(atomic_load(&w.self));
	wait_until(&w.ended);
	assert_true(w.parked_ms >= 100);
	fiber_sched_free(s);
}

static long first_park_ms, second_park_ms;

static void
wake_self_then_park(void *arg)
{
	atomic_bool *ended = arg;
	long t0 = clock_now_ms();

	fiber_wake(fiber_self()); /* as if an answer came before the park */
	fiber_park(5000);
	first_park_ms = clock_now_ms() - t0;
	/* Spent: the next park waits for its timeout. */
	t0 = clock_now_ms();
	fiber_park(100);
	second_park_ms = clock_now_ms() - t0;
	atomic_store(ended, true);
}

/* A wake that comes while the fiber runs makes its next park return at once, once. */
static void
test_wake_before_park(void **state)
{
	struct fiber_sched *s = sched(1);
	atomic_bool ended = false;

	(void)state;
	assert_int_equal(fiber_spawn(s, wake_self_then_park, &ended), 0);
	fiber_sched_free(s);
	assert_true(ended);
	assert_in_range(first_park_ms, 0, 2000);
	assert_in_range(second_park_ms, 100, 5000);
}

/* A parker and a waker on one carrier: the parker parks with a long timeout, the waker ends
 * each park first, so that every park leaves a stale timer behind. */
#define PINGS 1000
static struct fiber *_Atomic parker;
static atomic_int parks;

static void
park_long(void *arg)
{
	(void)arg;
	atomic_store(&parker, fiber_self());
	for (int i = 0; i < PINGS; i++) {
		fiber_park(600000);
		atomic_fetch_add(&parks, 1);
	}
}

static void
wake_parker(void *arg)
{
	(void)arg;
	while (atomic_load(&parks) < PINGS) {
		struct fiber *p = atomic_load(&parker);

		if (p != NULL)
			fiber_wake(p);
		fiber_park(1); /* the parker runs meanwhile, and parks again */
	}
}

/* Timers of parks a wake ended first do not pile up until their time (10 minutes here): the
 * table drops them when it fills. */
static void
test_stale_timers_dropped(void **state)
{
	struct fiber_sched *s = sched(1);

	(void)state;
	atomic_store(&parker, NULL);
	atomic_store(&parks, 0);
	assert_int_equal(fiber_spawn(s, park_long, NULL), 0);
	assert_int_equal(fiber_spawn(s, wake_parker, NULL), 0);
	for (int i = 0; i < 1000 && fiber_sched_live(s) > 0; i++)
		usleep(10000);
	assert_int_equal(fiber_sched_live(s), 0);
	assert_int_equal(atomic_load(&parks), PINGS);
	if (fiber_sched_timers(s) > 64)
		fail_msg("%zu timers held after %d parks woken early", fiber_sched_timers(s),
			 PINGS);
	fiber_sched_free(s);
}

static void
keeps_log_ctx(void *arg)
{
	char id[32];
	struct log_ctx want, got;

	snprintf(id, sizeof(id), "cmd-%d", (int)(long)arg);
	want = (struct log_ctx){.command_id = id, .partition = 3, .offset = (long long)(long)arg};
	log_ctx_set(&want);
	for (int i = 0; i < 5; i++) {
		fwait_sleep_ms(5);
		log_ctx_get(&got);
		if (got.command_id != want.command_id || got.offset != want.offset)
			atomic_fetch_add(&done, 1000);
	}
	atomic_fetch_add(&done, 1);
}

/* Each fiber finds its own log context after every park, whichever carrier resumed it. */
static void
test_log_ctx_kept(void **state)
{
	struct fiber_sched *s = sched(3);

	(void)state;
	reset();
	for (long i = 0; i < 64; i++)
		assert_int_equal(fiber_spawn(s, keeps_log_ctx, (void *)i), 0);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&done), 64);
}

/* VmRSS of this process, KiB. */
static long
rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static atomic_bool release;

static __attribute__((noinline)) void
touch_deep(size_t n)
{
	volatile char buf[64 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += 512)
		buf[i] = (char)i;
	if (n > 1)
		touch_deep(n - 1);
}

static void
deep_then_park(void *arg)
{
	(void)arg;
	touch_deep(3); /* 192 KiB of stack */
	atomic_fetch_add(&done, 1);
	while (!atomic_load(&release))
		fiber_park(20);
}

#if defined(__SANITIZE_ADDRESS__)
#define PARKED_KIB_EACH 8 /* ASan's shadow of what stays, and its bookkeeping: 6.5 KiB seen */
#else
#define PARKED_KIB_EACH 6
#endif

/* 100 fibers that each used 192 KiB of stack and then parked hold far less than 100 × 192 KiB:
 * the pages below where they park were given back, down to the page their saved stack pointer
 * is on (about 4.5 KiB each seen with it, 9 KiB when a page below that was kept too). */
static void
test_parked_stack_given_back(void **state)
{
	struct fiber_sched *s;
	long before, grown;

	(void)state;
#if defined(__SANITIZE_THREAD__)
	skip(); /* TSan shadows every stack byte ever touched (79 MiB here): RSS shows no trim */
#endif
	s = sched(2);
	reset();
	atomic_store(&release, false);
	before = rss_kib();
	for (int i = 0; i < 100; i++)
		assert_int_equal(fiber_spawn(s, deep_then_park, NULL), 0);
	for (int i = 0; i < 500 && atomic_load(&done) < 100; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&done), 100);
	grown = rss_kib() - before;
	atomic_store(&release, true);
	fiber_sched_free(s);
	if (grown > 100 * PARKED_KIB_EACH)
		fail_msg("100 parked fibers hold %ld KiB", grown);
}

struct shared {
	pthread_mutex_t lock;
	struct fcond cond;
	bool open;
	atomic_int through;
};

static void
fcond_fiber(void *arg)
{
	struct shared *sh = arg;

	pthread_mutex_lock(&sh->lock);
	while (!sh->open)
		fcond_wait(&sh->cond, &sh->lock, -1);
	pthread_mutex_unlock(&sh->lock);
	atomic_fetch_add(&sh->through, 1);
}

static void *
fcond_thread(void *arg)
{
	fcond_fiber(arg);
	return NULL;
}

/* A broadcast wakes the threads and the fibers waiting on one fcond. */
static void
test_fcond_threads_and_fibers(void **state)
{
	struct fiber_sched *s = sched(2);
	struct shared sh = {.open = false};
	pthread_t t[3];

	(void)state;
	pthread_mutex_init(&sh.lock, NULL);
	fcond_init(&sh.cond);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fcond_thread, &sh), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(fiber_spawn(s, fcond_fiber, &sh), 0);
	usleep(100000);
	assert_int_equal(atomic_load(&sh.through), 0);
	pthread_mutex_lock(&sh.lock);
	sh.open = true;
	fcond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&sh.through), 53);
	fcond_destroy(&sh.cond);
	pthread_mutex_destroy(&sh.lock);
}

struct sem_use {
	struct fsem sem;
	atomic_bool stop;
	atomic_int stopped;
};

static void
sem_fiber(void *arg)
{
	struct sem_use *u = arg;

	if (!fsem_take(&u->sem, &u->stop)) {
		atomic_fetch_add(&u->stopped, 1);
		return;
	}
	count_in();
	fwait_sleep_ms(20);
	atomic_fetch_sub(&now, 1);
	atomic_fetch_add(&done, 1);
	fsem_post(&u->sem);
}

/* fsem: never more holders than places; a stop ends the waits, a free place is taken even
 * then. */
static void
test_fsem(void **state)
{
	struct fiber_sched *s = sched(2);
	struct sem_use u = {.stop = false};

	(void)state;
	reset();
	fsem_init(&u.sem, 3);
	for (int i = 0; i < 30; i++)
		assert_int_equal(fiber_spawn(s, sem_fiber, &u), 0);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&done), 30);
	assert_int_equal(atomic_load(&peak), 3);
	assert_int_equal(fsem_free(&u.sem), 3);
	/* Every place taken: the waiters stop. */
	for (int i = 0; i < 3; i++)
		assert_true(fsem_take(&u.sem, NULL));
	s = sched(1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fiber_spawn(s, sem_fiber, &u), 0);
	usleep(50000);
	atomic_store(&u.stop, true);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&u.stopped), 5);
	fsem_post(&u.sem);
	assert_true(fsem_take(&u.sem, &u.stop));
	fsem_destroy(&u.sem);
}

/* Fibers that block their carrier (as a database statement does) until all are in at once. */
#define BLOCKERS 4
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int in, peak;
	struct fiber_sched *s;
} blk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};

static void
blocker(void *arg)
{
	struct timespec until;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&blk.lock);
	blk.in++;
	if (blk.in > blk.peak)
		blk.peak = blk.in;
	pthread_cond_broadcast(&blk.cond);
	while (blk.in < BLOCKERS && pthread_cond_timedwait(&blk.cond, &blk.lock, &until) == 0)
		;
	blk.in--; /* gone: a blocker that comes only now is not in at once with this one */
	pthread_mutex_unlock(&blk.lock);
}

/* The first makes the others ready in a burst, then blocks its carrier. */
static void
burst_leader(void *arg)
{
	for (int i = 1; i < BLOCKERS; i++)
		if (fiber_spawn(blk.s, blocker, NULL) != 0)
			return;
	blocker(arg);
}

/* A burst of ready fibers reaches every idle carrier, though each wake brings one carrier
 * at a time (the carrier that takes a fiber hands the rest on): all four blocking fibers run at
 * once on the four carriers. Without the hand-off the last two would wait for the first two's
 * 5 s timeout (peak 2), unless the timing happened to wake their carriers directly. */
static void
test_burst_reaches_idle_carriers(void **state)
{
	(void)state;
	blk.s = sched(BLOCKERS);
	usleep(20000); /* the carriers are all idle */
	assert_int_equal(fiber_spawn(blk.s, burst_leader, NULL), 0);
	fiber_sched_free(blk.s);
	assert_int_equal(blk.peak, BLOCKERS);
}

/* Each fiber keeps its own floating-point control (the switch saves the SSE and x87 control
 * words): one that rounds upward parks while another, started with the defaults, runs on the
 * same carrier; each sees its own mode. */
static struct {
	_Atomic(struct fiber *) up;
	atomic_int up_mode, other_mode, up_after;
} fpm;

static void
round_up_then_park(void *arg)
{
	volatile double third = 1.0;

	(void)arg;
	fesetround(FE_UPWARD);
	atomic_store(&fpm.up_mode, fegetround());
	atomic_store(&fpm.up, fiber_self());
	while (atomic_load(&fpm.other_mode) == -1)
		fiber_park(10);
	/* Upward: 1/3 rounds above the nearest double. */
	third = third / 3.0;
	atomic_store(&fpm.up_after, fegetround() == FE_UPWARD && third > 0.33333333333333331);
	fesetround(FE_TONEAREST);
}

static void
default_mode(void *arg)
{
	(void)arg;
	while (atomic_load(&fpm.up) == NULL)
		fiber_park(1);
	atomic_store(&fpm.other_mode, fegetround());
	fiber_wake(atomic_load(&fpm.up));
}

static void
test_fp_control_kept(void **state)
{
	struct fiber_sched *s = sched(1);

	(void)state;
	atomic_store(&fpm.up, NULL);
	atomic_store(&fpm.other_mode, -1);
	atomic_store(&fpm.up_after, 0);
	assert_int_equal(fiber_spawn(s, round_up_then_park, NULL), 0);
	assert_int_equal(fiber_spawn(s, default_mode, NULL), 0);
	fiber_sched_free(s);
	assert_int_equal(atomic_load(&fpm.up_mode), FE_UPWARD);
	assert_int_equal(atomic_load(&fpm.other_mode), FE_TONEAREST);
	assert_int_equal(atomic_load(&fpm.up_after), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parked_fibers_free_carriers),
	    cmocka_unit_test(test_wake_from_thread),
	    cmocka_unit_test(test_wake_before_park),
	    cmocka_unit_test(test_stale_timers_dropped),
	    cmocka_unit_test(test_log_ctx_kept),
	    cmocka_unit_test(test_parked_stack_given_back),
	    cmocka_unit_test(test_fcond_threads_and_fibers),
	    cmocka_unit_test(test_fsem),
	    cmocka_unit_test(test_burst_reaches_idle_carriers),
	    cmocka_unit_test(test_fp_control_kept),
	};

	log_init("test_fiber", LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
