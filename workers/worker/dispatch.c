/* dispatch: per-subject FIFOs, the runnable queue, the completed list and the in-flight count,
 * all under one mutex (see dispatch.h). Every operation on the message path is O(1) amortised:
 * subjects are found through a hash table, lists are intrusive (struct job's qprev/qnext). */
#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"

#define INITIAL_BUCKETS 256

enum job_state { JS_QUEUED, JS_RUNNABLE, JS_RUNNING, JS_COMPLETED };

/* The jobs of one order key still in the dispatcher: head is runnable or running, the rest
 * wait behind it. Freed when its last job completes. */
struct dispatch_subject {
	struct dispatch_subject *hnext; /* hash chain */
	struct job *head, *tail;	/* linked by job.next */
	char key[];
};

struct jlist {
	struct job *first, *last;
};

struct dispatch {
	pthread_mutex_t lock;
	pthread_cond_t runnable_cv; /* a job became runnable, or closed */
	pthread_cond_t done_cv;	    /* a job completed */
	struct dispatch_subject **buckets;
	size_t nbuckets, nsubjects;
	struct jlist runnable, running, completed;
	size_t inflight, nrunning;
	bool closed;
	size_t low;
	void (*on_low)(void *);
	void *on_low_arg;
};

static void
jlist_push(struct jlist *l, struct job *j)
{
	j->qnext = NULL;
	j->qprev = l->last;
	if (l->last)
		l->last->qnext = j;
	else
		l->first = j;
	l->last = j;
}

static void
jlist_remove(struct jlist *l, struct job *j)
{
	if (j->qprev)
		j->qprev->qnext = j->qnext;
	else
		l->first = j->qnext;
	if (j->qnext)
		j->qnext->qprev = j->qprev;
	else
		l->last = j->qprev;
	j->qprev = j->qnext = NULL;
}

/* FNV-1a: keys are short subjects; good enough spread for a power-of-two table. */
static size_t
key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

struct dispatch *
dispatch_new(void)
{
	struct dispatch *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->nbuckets = INITIAL_BUCKETS;
	d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
	if (!d->buckets) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->runnable_cv, NULL);
	pthread_cond_init(&d->done_cv, NULL);
	return d;
}

static void
free_chain(struct job *j, bool by_next)
{
	while (j) {
		struct job *n = by_next ? j->next : j->qnext;

		job_free(j);
		j = n;
	}
}

/* Frees the jobs of l that belong to no subject chain. */
static void
free_unordered(struct jlist *l)
{
	struct job *j, *next;

	for (j = l->first; j; j = next) {
		next = j->qnext;
		if (!j->subject)
			job_free(j);
	}
}

void
dispatch_free(struct dispatch *d)
{
	if (!d)
		return;
	/* A job not completed is in its subject's chain, or, without an order key, only in the
	 * runnable or running list; completed ones are only in the completed list. */
	free_unordered(&d->runnable);
	free_unordered(&d->running);
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct dispatch_subject *s = d->buckets[i], *n;

		for (; s; s = n) {
			n = s->hnext;
			free_chain(s->head, true);
			free(s);
		}
	}
	free_chain(d->completed.first, false);
	free(d->buckets);
	pthread_cond_destroy(&d->done_cv);
	pthread_cond_destroy(&d->runnable_cv);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Doubles the table when it holds more subjects than buckets; a failed allocation only leaves
 * the chains longer. */
static void
maybe_grow(struct dispatch *d)
{
	size_t n = d->nbuckets * 2;
	struct dispatch_subject **nb;

	if (d->nsubjects <= d->nbuckets)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct dispatch_subject *s = d->buckets[i], *next;

		for (; s; s = next) {
			size_t b = key_hash(s->key) & (n - 1);

			next = s->hnext;
			s->hnext = nb[b];
			nb[b] = s;
		}
	}
	free(d->buckets);
	d->buckets = nb;
	d->nbuckets = n;
}

static struct dispatch_subject *
subject_find(struct dispatch *d, const char *key)
{
	struct dispatch_subject *s = d->buckets[key_hash(key) & (d->nbuckets - 1)];

	while (s && strcmp(s->key, key) != 0)
		s = s->hnext;
	return s;
}

static struct dispatch_subject *
subject_add(struct dispatch *d, const char *key)
{
	size_t len = strlen(key);
	struct dispatch_subject *s = malloc(sizeof(*s) + len + 1);
	size_t b;

	if (!s)
		return NULL;
	memcpy(s->key, key, len + 1);
	s->head = s->tail = NULL;
	b = key_hash(key) & (d->nbuckets - 1);
	s->hnext = d->buckets[b];
	d->buckets[b] = s;
	d->nsubjects++;
	maybe_grow(d);
	return s;
}

static void
subject_remove(struct dispatch *d, struct dispatch_subject *s)
{
	struct dispatch_subject **pp = &d->buckets[key_hash(s->key) & (d->nbuckets - 1)];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	d->nsubjects--;
	free(s);
}

static void
make_runnable(struct dispatch *d, struct job *j)
{
	j->state = JS_RUNNABLE;
	jlist_push(&d->runnable, j);
	pthread_cond_signal(&d->runnable_cv);
}

int
dispatch_submit(struct dispatch *d, struct job *j)
{
	struct dispatch_subject *s;
	int rc = 0;

	j->next = NULL;
	j->subject = NULL;
	pthread_mutex_lock(&d->lock);
	if (*j->order_key) {
		s = subject_find(d, j->order_key);
		if (!s && !(s = subject_add(d, j->order_key))) {
			rc = -1;
			goto out;
		}
		j->subject = s;
		if (s->tail) {
			s->tail->next = j;
			s->tail = j;
			j->state = JS_QUEUED;
		} else {
			s->head = s->tail = j;
			make_runnable(d, j);
		}
	} else {
		make_runnable(d, j);
	}
	d->inflight++;
out:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* The first runnable job, now running; NULL when none. Lock held. */
static struct job *
take_first(struct dispatch *d)
{
	struct job *j = d->runnable.first;

	if (d->closed || !j)
		return NULL;
	jlist_remove(&d->runnable, j);
	j->state = JS_RUNNING;
	jlist_push(&d->running, j);
	d->nrunning++;
	return j;
}

struct job *
dispatch_take(struct dispatch *d)
{
	struct job *j;

	pthread_mutex_lock(&d->lock);
	while (!d->closed && !d->runnable.first)
		pthread_cond_wait(&d->runnable_cv, &d->lock);
	j = take_first(d);
	pthread_mutex_unlock(&d->lock);
	return j;
}

struct job *
dispatch_try_take(struct dispatch *d)
{
	struct job *j;

	pthread_mutex_lock(&d->lock);
	j = take_first(d);
	pthread_mutex_unlock(&d->lock);
	return j;
}

/* Takes j (not running) out of its subject chain, where prev precedes it (NULL: j is the head),
 * and puts it on the completed list; the next job of the subject becomes runnable when j was
 * the head. Lock held; frees the subject with its last job. */
static void
complete(struct dispatch *d, struct job *j, struct job *prev, enum job_result result)
{
	struct dispatch_subject *s = j->subject;

	if (s) {
		if (prev)
			prev->next = j->next;
		else
			s->head = j->next;
		if (s->tail == j)
			s->tail = prev;
		if (!s->head)
			subject_remove(d, s);
		else if (!prev && s->head->state == JS_QUEUED)
			make_runnable(d, s->head);
		j->subject = NULL;
		j->next = NULL;
	}
	j->result = result;
	j->state = JS_COMPLETED;
	jlist_push(&d->completed, j);
	d->inflight--;
	pthread_cond_broadcast(&d->done_cv);
}

void
dispatch_done(struct dispatch *d, struct job *j, enum job_result result)
{
	void (*fn)(void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&d->lock);
	/* A running job is the head of its subject: nothing of the subject runs before it. */
	jlist_remove(&d->running, j);
	d->nrunning--;
	complete(d, j, NULL, result);
	if (d->on_low && d->inflight == d->low) {
		fn = d->on_low;
		arg = d->on_low_arg;
	}
	pthread_mutex_unlock(&d->lock);
	if (fn)
		fn(arg);
}

struct job *
dispatch_reap(struct dispatch *d)
{
	struct job *first;

	pthread_mutex_lock(&d->lock);
	first = d->completed.first;
	d->completed.first = d->completed.last = NULL;
	pthread_mutex_unlock(&d->lock);
	return first;
}

int
dispatch_wait_completed(struct dispatch *d, int timeout_ms)
{
	struct timespec ts;
	int rc;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&d->lock);
	while (!d->completed.first) {
		if (pthread_cond_timedwait(&d->done_cv, &d->lock, &ts) == ETIMEDOUT)
			break;
	}
	rc = d->completed.first != NULL;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int
dispatch_wait_idle(struct dispatch *d, int timeout_ms)
{
	struct timespec ts;
	int rc;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&d->lock);
	while (d->inflight) {
		if (pthread_cond_timedwait(&d->done_cv, &d->lock, &ts) == ETIMEDOUT)
			break;
	}
	rc = d->inflight == 0;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

size_t
dispatch_inflight(struct dispatch *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->inflight;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void
dispatch_table_size(struct dispatch *d, size_t *subjects, size_t *buckets)
{
	pthread_mutex_lock(&d->lock);
	*subjects = d->nsubjects;
	*buckets = d->nbuckets;
	pthread_mutex_unlock(&d->lock);
}

size_t
dispatch_running(struct dispatch *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->nrunning;
	pthread_mutex_unlock(&d->lock);
	return n;
}

static bool
matches(const struct job *j, dispatch_match_fn match, void *arg)
{
	return !match || match(j, arg);
}

/* Cancels the matching jobs of s that have not started. Returns how many. Lock held; s is
 * freed with its last job. */
static size_t
cancel_subject(struct dispatch *d, struct dispatch_subject *s, dispatch_match_fn match, void *arg)
{
	struct job *j = s->head, *prev = NULL, *next;
	size_t n = 0;

	for (; j; j = next) {
		next = j->next;
		if (j->state == JS_RUNNING || !matches(j, match, arg)) {
			prev = j;
			continue;
		}
		if (j->state == JS_RUNNABLE)
			jlist_remove(&d->runnable, j);
		complete(d, j, prev, JOB_CANCELLED);
		n++;
	}
	return n;
}

size_t
dispatch_cancel(struct dispatch *d, dispatch_match_fn match, void *arg)
{
	size_t n = 0;
	struct job *j, *next;

	pthread_mutex_lock(&d->lock);
	/* Jobs without an order key are only in the runnable list. */
	for (j = d->runnable.first; j; j = next) {
		next = j->qnext;
		if (!j->subject && matches(j, match, arg)) {
			jlist_remove(&d->runnable, j);
			complete(d, j, NULL, JOB_CANCELLED);
			n++;
		}
	}
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct dispatch_subject *s = d->buckets[i], *snext;

		for (; s; s = snext) {
			snext = s->hnext;
			n += cancel_subject(d, s, match, arg);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

size_t
dispatch_stop(struct dispatch *d, dispatch_match_fn match, void *arg)
{
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (struct job *j = d->running.first; j; j = j->qnext) {
		if (matches(j, match, arg)) {
			atomic_store(&j->stop, true);
			n++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

void
dispatch_on_low(struct dispatch *d, size_t low, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&d->lock);
	d->low = low;
	d->on_low = fn;
	d->on_low_arg = arg;
	pthread_mutex_unlock(&d->lock);
}

void
dispatch_close(struct dispatch *d)
{
	pthread_mutex_lock(&d->lock);
	d->closed = true;
	pthread_cond_broadcast(&d->runnable_cv);
	pthread_mutex_unlock(&d->lock);
}
