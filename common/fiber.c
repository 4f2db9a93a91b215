/* fiber: user-space threads on a few carriers (see fiber.h). Every change of a fiber's state is
 * made under the scheduler's lock; a fiber's stack pages below the point where it parks are
 * given back to the kernel while it waits, so a parked fiber costs the pages it is using. */
#include "fiber.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "clock.h"
#include "deadline.h"
#include "log.h"

/* GCC says ASan with __SANITIZE_ADDRESS__, clang (before 22) only with __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifndef FIBER_ASAN
#define FIBER_ASAN 0
#endif
#if FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define FIBER_TSAN 1
#else
#define FIBER_TSAN 0
#endif

/* On x86-64 a switch saves what the ABI says a call keeps (six registers, the x87 and SSE
 * control words) on the stack it leaves and keeps only the stack pointer: 8 bytes of context
 * instead of ucontext_t's 1 KiB per fiber, and no signal-mask system call per switch (fibers
 * never change the mask). Elsewhere, and under ASan (whose swapcontext interceptor gives back
 * the shadow of a stack switched to: without it a parked fiber's shadow stays), ucontext. */
#if defined(__x86_64__) && !FIBER_ASAN
#define FIBER_ASM 1
struct fctx {
	void *sp; /* the stack pointer the switch saved; on a new fiber, its first frame */
};

/* Saves the running context in *from and resumes to. */
void tmprov_fiber_swap(struct fctx *from, const struct fctx *to)
    __attribute__((visibility("hidden")));
/* A new fiber's first frame returns here: it calls the function in r12, which never returns
 * (the undefined return address ends a backtrace here). */
void tmprov_fiber_start(void) __attribute__((visibility("hidden")));
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl tmprov_fiber_swap\n"
	".hidden tmprov_fiber_swap\n"
	".type tmprov_fiber_swap, @function\n"
	"tmprov_fiber_swap:\n"
	"\t.cfi_startproc\n"
	"\tpushq %rbp\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset rbp, 0\n"
	"\tpushq %rbx\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset rbx, 0\n"
	"\tpushq %r12\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset r12, 0\n"
	"\tpushq %r13\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset r13, 0\n"
	"\tpushq %r14\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset r14, 0\n"
	"\tpushq %r15\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\t.cfi_rel_offset r15, 0\n"
	"\tsubq $8, %rsp\n"
	"\t.cfi_adjust_cfa_offset 8\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq (%rsi), %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\tpopq %r15\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore r15\n"
	"\tpopq %r14\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore r14\n"
	"\tpopq %r13\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore r13\n"
	"\tpopq %r12\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore r12\n"
	"\tpopq %rbx\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore rbx\n"
	"\tpopq %rbp\n"
	"\t.cfi_adjust_cfa_offset -8\n"
	"\t.cfi_restore rbp\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size tmprov_fiber_swap, .-tmprov_fiber_swap\n"
	".p2align 4\n"
	".globl tmprov_fiber_start\n"
	".hidden tmprov_fiber_start\n"
	".type tmprov_fiber_start, @function\n"
	"tmprov_fiber_start:\n"
	"\t.cfi_startproc\n"
	"\t.cfi_undefined rip\n"
	"\txorl %ebp, %ebp\n"
	"\tcallq *%r12\n"
	"\tud2\n"
	"\t.cfi_endproc\n"
	".size tmprov_fiber_start, .-tmprov_fiber_start\n"
	".popsection\n");
#else
#define FIBER_ASM 0
struct fctx {
	ucontext_t uc;
};
#endif

enum fiber_state { F_READY, F_RUNNING, F_PARKING, F_PARKED, F_DONE };

/* The longest an idle carrier waits before it looks at the ready queue again. */
#define IDLE_LOOK_MS 1000L

struct carrier {
	struct fiber_sched *s;
	pthread_t tid;
	bool started;
	struct fctx ctx;
	struct fiber *cur;  /* the fiber it runs; NULL between fibers */
	void *fake;	    /* ASan: the carrier's fake stack while a fiber runs */
	const void *bottom; /* ASan: the carrier's own stack, to switch back to */
	size_t size;
	void *tsan; /* TSan: the carrier's own context */
};

struct fiber {
	struct fiber_sched *s;
	struct fctx ctx;
	char *map; /* the mapping: a guard page, then the stack */
	size_t maplen;
	fiber_fn *fn;
	void *arg;
	enum fiber_state state;
	bool woken;	    /* a wake came while it ran: its next park returns at once */
	long park_at_ms;    /* the park's timeout (clock_now_ms), -1: none */
	uint64_t timer_gen; /* the armed timer's generation; any other is stale */
	struct fiber *next; /* ready queue, free list */
	void *fake;	    /* ASan: the fiber's fake stack while it is switched out */
	void *tsan;	    /* TSan: the fiber's context */
};

struct timer {
	long at_ms;
	struct fiber *f;
	uint64_t gen;
};

struct fiber_sched {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a fiber became ready, an earlier timer, or closing */
	pthread_cond_t idle; /* live dropped to 0 */
	struct fiber *ready, *ready_tail;
	struct fiber *free;   /* returned fibers, their mappings kept (structs are never freed
			       * before the scheduler: a stale timer may still name one) */
	size_t nfree_hot;     /* free fibers whose stack pages are still resident */
	struct timer *timers; /* a min-heap by at_ms */
	size_t ntimers, cap;
	size_t live;
	int idle_carriers; /* carriers waiting for work */
	bool waking; /* wake_carrier signalled, and no carrier has come back from its wait since */
	bool closing;
	size_t stack_size;
	int ncarriers;
	struct carrier *carriers;
};

static _Thread_local struct carrier *self_carrier;

static size_t
page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

struct fiber *
fiber_self(void)
{
	return self_carrier != NULL ? self_carrier->cur : NULL;
}

/* Wakes one idle carrier for the ready queue unless one is on its way already. Under the lock.
 * Any carrier that takes a fiber while more are ready calls it again (the hand-off, which
 * liveness needs: without it fibers would stay queued while carriers sit idle), so a burst of
 * wakes (a group leader waking its followers) brings carriers one at a time, as many as the
 * work keeps busy, instead of every idle one to fight over the lock and find the queue empty. */
static void
wake_carrier(struct fiber_sched *s)
{
	if (!s->waking && s->idle_carriers > 0) {
		s->waking = true;
		pthread_cond_signal(&s->work);
	}
}

/* Under the lock. */
static void
ready_push(struct fiber_sched *s, struct fiber *f)
{
	f->state = F_READY;
	f->next = NULL;
	if (s->ready_tail != NULL)
		s->ready_tail->next = f;
	else
		s->ready = f;
	s->ready_tail = f;
	wake_carrier(s);
}

static struct fiber *
ready_pop(struct fiber_sched *s)
{
	struct fiber *f = s->ready;

	if (f != NULL) {
		s->ready = f->next;
		if (s->ready == NULL)
			s->ready_tail = NULL;
	}
	return f;
}

static void
timer_swap(struct timer *a, struct timer *b)
{
	struct timer t = *a;

	*a = *b;
	*b = t;
}

/* Moves the timer at i down to its place in the heap. */
static void
timer_sift_down(struct fiber_sched *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->ntimers && s->timers[l].at_ms < s->timers[m].at_ms)
			m = l;
		if (r < s->ntimers && s->timers[r].at_ms < s->timers[m].at_ms)
			m = r;
		if (m == i)
			return;
		timer_swap(&s->timers[i], &s->timers[m]);
		i = m;
	}
}

static struct timer
timer_pop(struct fiber_sched *s)
{
	struct timer top = s->timers[0];

	s->timers[0] = s->timers[--s->ntimers];
	timer_sift_down(s, 0);
	return top;
}

/* Drops the stale timers (of parks that a wake ended first: their generation is no longer
 * their fiber's), which would otherwise stay until their time, and rebuilds the heap. Under
 * the lock. */
static void
timers_purge(struct fiber_sched *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->ntimers; i++)
		if (s->timers[i].gen == s->timers[i].f->timer_gen)
			s->timers[n++] = s->timers[i];
	s->ntimers = n;
	for (size_t i = n / 2; i-- > 0;)
		timer_sift_down(s, i);
}

/* Room for one more timer. Under the lock; -1 when out of memory. */
static int
timers_room(struct fiber_sched *s)
{
	struct timer *t;
	size_t cap;

	if (s->ntimers < s->cap)
		return 0;
	/* Full: first without the stale ones; grown when the armed ones still fill over half of
	 * it (so that a purge is paid for by as many pushes). */
	timers_purge(s);
	if (s->cap > 0 && s->ntimers <= s->cap / 2)
		return 0;
	cap = s->cap ? s->cap * 2 : 64;
	if ((t = realloc(s->timers, cap * sizeof(*t))) == NULL)
		return s->ntimers < s->cap ? 0 : -1;
	s->timers = t;
	s->cap = cap;
	return 0;
}

/* Arms f's timer for at_ms. Under the lock; -1 when out of memory (the park then has no
 * timeout: its waker still ends it, and the callers' waits all have one). */
static int
timer_push(struct fiber_sched *s, struct fiber *f, long at_ms)
{
	size_t i;

	if (timers_room(s) != 0)
		return -1;
	i = s->ntimers++;
	s->timers[i] = (struct timer){at_ms, f, ++f->timer_gen};
	while (i > 0 && s->timers[(i - 1) / 2].at_ms > s->timers[i].at_ms) {
		timer_swap(&s->timers[(i - 1) / 2], &s->timers[i]);
		i = (i - 1) / 2;
	}
	if (i == 0) /* the earliest now: a carrier waiting for a later one must look again */
		pthread_cond_signal(&s->work);
	return 0;
}

/* Makes the fibers whose timers are due ready. Under the lock; returns the ms until the next
 * timer (-1: none). */
static long
timers_fire(struct fiber_sched *s)
{
	long now = clock_now_ms();

	while (s->ntimers > 0 && s->timers[0].at_ms <= now) {
		struct timer t = timer_pop(s);

		if (t.gen == t.f->timer_gen && t.f->state == F_PARKED) {
			t.f->timer_gen++;
			ready_push(s, t.f);
		}
	}
	return s->ntimers > 0 ? s->timers[0].at_ms - now : -1;
}

/* Saves the running context in from and resumes to. */
static inline void
fctx_swap(struct fctx *from, struct fctx *to)
{
#if FIBER_ASM
	tmprov_fiber_swap(from, to);
#else
	swapcontext(&from->uc, &to->uc);
#endif
}

static void
switch_to_fiber(struct carrier *c, struct fiber *f)
{
#if FIBER_ASAN
	__sanitizer_start_switch_fiber(&c->fake, f->map + page_size(), f->maplen - page_size());
#endif
#if FIBER_TSAN
	__tsan_switch_to_fiber(f->tsan, 0);
#endif
	fctx_swap(&c->ctx, &f->ctx);
#if FIBER_ASAN
	__sanitizer_finish_switch_fiber(c->fake, NULL, NULL);
#endif
}

/* The lowest stack address a parked f will use again: the stack pointer its switch saved (on
 * resuming, nothing below it is read). 0 where the context's layout is not known here. */
static uintptr_t
parked_sp(const struct fiber *f)
{
#if FIBER_ASM
	return (uintptr_t)f->ctx.sp;
#elif defined(__x86_64__)
	return (uintptr_t)f->ctx.uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (uintptr_t)f->ctx.uc.uc_mcontext.sp;
#else
	(void)f;
	return 0;
#endif
}

/* Gives the stack pages of a parked f below the page of its saved stack pointer back: it keeps
 * only the pages its frames are on. Called by the carrier it parked from, before the park is
 * published (F_PARKING): nobody else can run f meanwhile. */
static void
stack_trim(struct fiber *f)
{
	size_t pg = page_size();
	uintptr_t sp = parked_sp(f), lo = (uintptr_t)f->map + pg;
	uintptr_t end = (uintptr_t)f->map + f->maplen, hi = sp & ~(uintptr_t)(pg - 1);

	if (sp > lo && sp < end && hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Back on the carrier after the fiber ran: it parked or returned. Under the lock. */
static void
carrier_after(struct fiber_sched *s, struct fiber *f)
{
	if (f->state == F_DONE) {
		/* Its stack is given back beyond a few kept warm for the next fibers. */
		if (s->nfree_hot < (size_t)s->ncarriers * 2)
			s->nfree_hot++;
		else
			madvise(f->map + page_size(), f->maplen - page_size(), MADV_DONTNEED);
		f->next = s->free;
		s->free = f;
		if (--s->live == 0) {
			pthread_cond_broadcast(&s->idle);
			pthread_cond_broadcast(&s->work);
		}
		return;
	}
	if (f->woken) {
		f->woken = false;
		ready_push(s, f);
		return;
	}
	f->state = F_PARKED;
	if (f->park_at_ms >= 0)
		timer_push(s, f, f->park_at_ms);
}

static void *
carrier_main(void *arg)
{
	struct carrier *c = arg;
	struct fiber_sched *s = c->s;
	struct timespec until;
	struct fiber *f;
	long next;

	self_carrier = c;
#if FIBER_TSAN
	c->tsan = __tsan_get_current_fiber();
#endif
	pthread_mutex_lock(&s->lock);
	for (;;) {
		next = timers_fire(s);
		f = ready_pop(s);
		if (f == NULL) {
			if (s->closing && s->live == 0)
				break;
			/* Never longer than IDLE_LOOK_MS: with one wake out at a time, a signal
			 * the C library loses (glibc bug 25847) would hold ready fibers until
			 * something else woke a carrier. */
			s->idle_carriers++;
			deadline_after_on(CLOCK_MONOTONIC, &until,
					  next < 0 || next > IDLE_LOOK_MS ? IDLE_LOOK_MS : next);
			pthread_cond_timedwait(&s->work, &s->lock, &until);
			s->idle_carriers--;
			s->waking = false; /* one is back (whatever woke it) and looks again */
			continue;
		}
		if (s->ready != NULL)
			wake_carrier(s); /* more work: hand it on */
		f->state = F_RUNNING;
		c->cur = f;
		pthread_mutex_unlock(&s->lock);
		switch_to_fiber(c, f);
		if (f->state == F_PARKING) /* set by f itself, on this thread */
			stack_trim(f);
		pthread_mutex_lock(&s->lock);
		c->cur = NULL;
		carrier_after(s, f);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Switches from the running fiber f back to its carrier; returns when f runs again (perhaps on
 * another carrier). dying: f will never run again. */
static void
switch_to_carrier(struct fiber *f, bool dying)
{
	struct carrier *c = self_carrier;

#if FIBER_ASAN
	__sanitizer_start_switch_fiber(dying ? NULL : &f->fake, c->bottom, c->size);
#else
	(void)dying;
#endif
#if FIBER_TSAN
	__tsan_switch_to_fiber(c->tsan, 0);
#endif
	fctx_swap(&f->ctx, &c->ctx);
#if FIBER_ASAN
	c = self_carrier;
	__sanitizer_finish_switch_fiber(f->fake, &c->bottom, &c->size);
#endif
}

static void
fiber_entry(void)
{
	struct fiber *f = self_carrier->cur;

#if FIBER_ASAN
	__sanitizer_finish_switch_fiber(NULL, &self_carrier->bottom, &self_carrier->size);
#endif
	log_ctx_clear(); /* the carrier's holds the last fiber's, perhaps parked */
	f->fn(f->arg);
	log_ctx_clear();
	pthread_mutex_lock(&f->s->lock);
	f->state = F_DONE;
	pthread_mutex_unlock(&f->s->lock);
	switch_to_carrier(f, true);
}

void
fiber_park(long timeout_ms)
{
	struct fiber *f = fiber_self();
	struct fiber_sched *s = f->s;
	struct log_ctx saved;

	pthread_mutex_lock(&s->lock);
	if (f->woken) {
		f->woken = false;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	f->state = F_PARKING;
	f->park_at_ms = timeout_ms >= 0 ? clock_now_ms() + timeout_ms : -1;
	pthread_mutex_unlock(&s->lock);
	log_ctx_get(&saved);
	switch_to_carrier(f, false);
	log_ctx_set(&saved);
}

void
fiber_wake(struct fiber *f)
{
	struct fiber_sched *s = f->s;

	pthread_mutex_lock(&s->lock);
	if (f->state == F_PARKED) {
		f->timer_gen++; /* its timer, if any, is stale now */
		ready_push(s, f);
	} else if (f->state == F_RUNNING || f->state == F_PARKING) {
		f->woken = true;
	}
	pthread_mutex_unlock(&s->lock);
}

static struct fiber *
fiber_alloc(struct fiber_sched *s)
{
	struct fiber *f = calloc(1, sizeof(*f));
	size_t pg = page_size();

	if (f == NULL)
		return NULL;
	f->s = s;
	f->maplen = s->stack_size + pg;
	f->map = mmap(NULL, f->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (f->map == MAP_FAILED || mprotect(f->map, pg, PROT_NONE) != 0) {
		if (f->map != MAP_FAILED)
			munmap(f->map, f->maplen);
		free(f);
		return NULL;
	}
#if FIBER_TSAN
	f->tsan = __tsan_create_fiber(0);
#endif
	return f;
}

/* f's context: to start at fiber_entry on its own stack. -1 on a failure of getcontext. */
static __attribute__((noinline)) int
fiber_context(struct fiber *f)
{
#if FIBER_ASM
	/* The frame tmprov_fiber_swap resumes (control words, r15 ... rbp, return address) at the
	 * top of the stack, so that tmprov_fiber_start runs with the stack 16-byte aligned, as
	 * before a call, and calls fiber_entry from r12. */
	enum { CONTROL, R15, R14, R13, R12, RBX, RBP, RET, PAD1, PAD2, WORDS };
	uint64_t *frame = (uint64_t *)(void *)(f->map + f->maplen) - WORDS;

	memset(frame, 0, WORDS * sizeof(*frame));
	frame[CONTROL] = 0x1F80 | (uint64_t)0x037F << 32; /* MXCSR, x87 control word: defaults */
	frame[R12] = (uint64_t)(uintptr_t)fiber_entry;
	frame[RET] = (uint64_t)(uintptr_t)tmprov_fiber_start;
	f->ctx.sp = frame;
	return 0;
#else
	if (getcontext(&f->ctx.uc) != 0)
		return -1;
	f->ctx.uc.uc_stack.ss_sp = f->map + page_size();
	f->ctx.uc.uc_stack.ss_size = f->maplen - page_size();
	f->ctx.uc.uc_link = NULL;
	makecontext(&f->ctx.uc, fiber_entry, 0);
	return 0;
#endif
}

int
fiber_spawn(struct fiber_sched *s, fiber_fn *fn, void *arg)
{
	struct fiber *f;

	pthread_mutex_lock(&s->lock);
	f = s->free;
	if (f != NULL) {
		s->free = f->next;
		if (s->nfree_hot > 0)
			s->nfree_hot--;
	}
	pthread_mutex_unlock(&s->lock);
	if (f == NULL && (f = fiber_alloc(s)) == NULL)
		return -1;
	f->fn = fn;
	f->arg = arg;
	f->woken = false;
	f->fake = NULL;
	if (fiber_context(f) != 0) {
		pthread_mutex_lock(&s->lock);
		f->next = s->free;
		s->free = f;
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->live++;
	ready_push(s, f);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

size_t
fiber_sched_timers(struct fiber_sched *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->ntimers;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t
fiber_sched_live(struct fiber_sched *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->live;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void
sched_release(struct fiber_sched *s)
{
	struct fiber *f;

	while ((f = s->free) != NULL) {
		s->free = f->next;
#if FIBER_TSAN
		__tsan_destroy_fiber(f->tsan);
#endif
		munmap(f->map, f->maplen);
		free(f);
	}
	free(s->timers);
	free(s->carriers);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Stops the carriers once no fiber is live, and frees everything. */
static void
sched_stop(struct fiber_sched *s)
{
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	while (s->live > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->ncarriers; i++)
		if (s->carriers[i].started)
			pthread_join(s->carriers[i].tid, NULL);
	sched_release(s);
}

struct fiber_sched *
fiber_sched_new(const char *name, int carriers, size_t stack_size, char *err, size_t errlen)
{
	struct fiber_sched *s = calloc(1, sizeof(*s));
	size_t pg = page_size();
	pthread_condattr_t attr;
	char tname[16];
	int rc;

	if (s == NULL || carriers < 1 || stack_size < 4 * pg ||
	    !(s->carriers = calloc((size_t)carriers, sizeof(*s->carriers)))) {
		snprintf(err, errlen,
			 "fiber: out of memory (or no carriers, or a stack too small)");
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	/* Timers are on the monotonic clock: a step of the wall clock moves none. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&s->idle, NULL);
	s->stack_size = (stack_size + pg - 1) / pg * pg;
	s->ncarriers = carriers;
	for (int i = 0; i < carriers; i++) {
		s->carriers[i].s = s;
		rc = pthread_create(&s->carriers[i].tid, NULL, carrier_main, &s->carriers[i]);
		if (rc != 0) {
			snprintf(err, errlen, "fiber: cannot start carrier %d of %d: %s", i + 1,
				 carriers, strerror(rc));
			sched_stop(s);
			return NULL;
		}
		s->carriers[i].started = true;
		snprintf(tname, sizeof(tname), "%.8s-%d", name, i % 1000);
		pthread_setname_np(s->carriers[i].tid, tname);
	}
	return s;
}

void
fiber_sched_free(struct fiber_sched *s)
{
	if (s != NULL)
		sched_stop(s);
}
