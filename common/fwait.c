/* fwait: waits for threads and fibers alike (see fwait.h). A fiber waiting on an fcond is a node
 * on its own stack, linked under the caller's mutex and unlinked by whoever wakes it. */
#include "fwait.h"

#include <time.h>

#include "clock.h"
#include "deadline.h"
#include "fiber.h"

struct fcond_waiter {
	struct fiber *f;
	struct fcond_waiter *next;
	bool linked;
};

void
fwait_sleep_ms(long ms)
{
	long end = clock_now_ms() + ms, left;
	struct timespec ts;

	if (fiber_self() == NULL) {
		ts = (struct timespec){ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		return;
	}
	while ((left = end - clock_now_ms()) > 0)
		fiber_park(left);
}

void
fcond_init(struct fcond *c)
{
	pthread_cond_init(&c->cv, NULL);
	c->fibers = c->fibers_tail = NULL;
}

void
fcond_destroy(struct fcond *c)
{
	pthread_cond_destroy(&c->cv);
}

/* Unlinks w, which is linked. With the mutex held. */
static void
fcond_unlink(struct fcond *c, struct fcond_waiter *w)
{
	struct fcond_waiter **p = &c->fibers, *prev = NULL;

	while (*p != w) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = w->next;
	if (c->fibers_tail == w)
		c->fibers_tail = prev;
	w->linked = false;
}

void
fcond_wait(struct fcond *c, pthread_mutex_t *m, long timeout_ms)
{
	struct fcond_waiter w = {fiber_self(), NULL, true};
	struct timespec until;

	if (w.f == NULL) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&c->cv, m);
		} else {
			deadline_after(&until, timeout_ms);
			pthread_cond_timedwait(&c->cv, m, &until);
		}
		return;
	}
	if (c->fibers_tail != NULL)
		c->fibers_tail->next = &w;
	else
		c->fibers = &w;
	c->fibers_tail = &w;
	pthread_mutex_unlock(m);
	fiber_park(timeout_ms);
	pthread_mutex_lock(m);
	if (w.linked)
		fcond_unlink(c, &w);
}

static void
fcond_wake_first(struct fcond *c)
{
	struct fcond_waiter *w = c->fibers;

	c->fibers = w->next;
	if (c->fibers == NULL)
		c->fibers_tail = NULL;
	w->linked = false;
	fiber_wake(w->f);
}

/* Wakes the first fiber and a thread, if both wait: one more waker than needed (each rechecks
 * its condition) rather than a thread left waiting behind every fiber. */
void
fcond_signal(struct fcond *c)
{
	if (c->fibers != NULL)
		fcond_wake_first(c);
	pthread_cond_signal(&c->cv);
}

void
fcond_broadcast(struct fcond *c)
{
	while (c->fibers != NULL)
		fcond_wake_first(c);
	pthread_cond_broadcast(&c->cv);
}

void
fsem_init(struct fsem *s, unsigned n)
{
	pthread_mutex_init(&s->lock, NULL);
	fcond_init(&s->freed);
	s->count = n;
}

void
fsem_destroy(struct fsem *s)
{
	fcond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
}

bool
fsem_take(struct fsem *s, const atomic_bool *stop)
{
	bool ok = true;

	pthread_mutex_lock(&s->lock);
	while (s->count == 0) {
		if (stop != NULL && atomic_load(stop)) {
			ok = false;
			goto out;
		}
		fcond_wait(&s->freed, &s->lock, 100);
	}
	s->count--;
out:
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void
fsem_post(struct fsem *s)
{
	pthread_mutex_lock(&s->lock);
	s->count++;
	fcond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

unsigned
fsem_free(struct fsem *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}
