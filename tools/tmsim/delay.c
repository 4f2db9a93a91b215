/* delay: a binary min-heap of (due time, connection) under one mutex; the thread sleeps on a
 * condition variable until the earliest due time or a new earlier entry, and resumes what is
 * due outside the lock. */
#include "delay.h"
#include "clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct held {
	int64_t due_ns; /* CLOCK_MONOTONIC */
	struct MHD_Connection *conn;
};

struct delay {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct held *heap;
	size_t n, cap;
	bool releasing;
};

static void
delay_swap(struct held *a, struct held *b)
{
	struct held t = *a;

	*a = *b;
	*b = t;
}

static void
delay_sift_up(struct delay *d, size_t i)
{
	while (i > 0 && d->heap[(i - 1) / 2].due_ns > d->heap[i].due_ns) {
		delay_swap(&d->heap[(i - 1) / 2], &d->heap[i]);
		i = (i - 1) / 2;
	}
}

static void
delay_sift_down(struct delay *d, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < d->n && d->heap[l].due_ns < d->heap[m].due_ns)
			m = l;
		if (r < d->n && d->heap[r].due_ns < d->heap[m].due_ns)
			m = r;
		if (m == i)
			return;
		delay_swap(&d->heap[m], &d->heap[i]);
		i = m;
	}
}

/* The earliest entry, removed. Called locked with d->n > 0. */
static struct MHD_Connection *
delay_pop(struct delay *d)
{
	struct MHD_Connection *c = d->heap[0].conn;

	d->heap[0] = d->heap[--d->n];
	delay_sift_down(d, 0);
	return c;
}

static void *
delay_main(void *arg)
{
	struct delay *d = arg;
	struct MHD_Connection *due[64];
	struct timespec until;
	size_t k;

	pthread_mutex_lock(&d->mu);
	while (!d->releasing) {
		if (d->n == 0) {
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		if (d->heap[0].due_ns > clock_now_ns()) {
			until.tv_sec = (time_t)(d->heap[0].due_ns / 1000000000);
			until.tv_nsec = (long)(d->heap[0].due_ns % 1000000000);
			pthread_cond_timedwait(&d->cv, &d->mu, &until);
			continue;
		}
		for (k = 0; k < 64 && d->n > 0 && d->heap[0].due_ns <= clock_now_ns(); k++)
			due[k] = delay_pop(d);
		pthread_mutex_unlock(&d->mu);
		for (size_t i = 0; i < k; i++)
			MHD_resume_connection(due[i]);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

struct delay *
delay_start(char *err, size_t errlen)
{
	struct delay *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	/* Due times are monotonic: a clock step must not release or hold answers. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, delay_main, d) != 0) {
		snprintf(err, errlen, "cannot start the timer thread");
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
		free(d);
		return NULL;
	}
	return d;
}

int
delay_add(struct delay *d, struct MHD_Connection *conn, long ms)
{
	struct held *grown;
	int rc = 0;

	pthread_mutex_lock(&d->mu);
	if (d->releasing)
		goto now;
	if (d->n == d->cap) {
		grown = realloc(d->heap, (d->cap ? 2 * d->cap : 64) * sizeof(*grown));
		if (grown == NULL) {
			rc = -1;
			goto now;
		}
		d->heap = grown;
		d->cap = d->cap ? 2 * d->cap : 64;
	}
	d->heap[d->n] = (struct held){clock_now_ns() + (int64_t)ms * 1000000, conn};
	delay_sift_up(d, d->n++);
	/* Wake the thread only when this entry is the new earliest. */
	if (d->heap[0].conn == conn)
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return 0;
now:
	pthread_mutex_unlock(&d->mu);
	MHD_resume_connection(conn);
	return rc;
}

void
delay_release(struct delay *d)
{
	struct MHD_Connection *c;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->releasing = true;
	pthread_cond_signal(&d->cv);
	while (d->n > 0) {
		c = delay_pop(d);
		pthread_mutex_unlock(&d->mu);
		MHD_resume_connection(c);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
}

void
delay_free(struct delay *d)
{
	if (d == NULL)
		return;
	delay_release(d);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d->heap);
	free(d);
}
