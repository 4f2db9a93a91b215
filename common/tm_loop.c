/* tm_loop: one thread runs every submitted TM call on a curl multi handle (see tm_loop.h).
 * A call is a tm_client of a free list: begun by the submitter, run and ended by the loop. */
#include "tm_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fwait.h"
#include "log.h"

/* The loop looks at its queue at least this often even when nothing wakes it. */
#define LOOP_POLL_MS 1000

struct tm_call {
	struct tm_client *tc;
	tm_loop_done_fn done;
	void *arg;
	double start_ms;
	struct tm_call *next;
};

struct tm_loop {
	struct tm_client_opts opts; /* its strings are the loop's copies */
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	struct tm_call *queued, **queued_tail;
	struct tm_call *idle;
	size_t in_flight; /* queued or running */
	bool stopping;
	atomic_uint forget; /* tm_loop_forget_answers' */
};

static void
call_free(struct tm_call *c)
{
	if (c == NULL)
		return;
	tm_client_free(c->tc);
	free(c);
}

/* A call object, from the free list or new. NULL when out of memory (err says). */
static struct tm_call *
call_get(struct tm_loop *l, char *err, size_t errlen)
{
	struct tm_call *c;

	pthread_mutex_lock(&l->lock);
	c = l->idle;
	if (c != NULL)
		l->idle = c->next;
	pthread_mutex_unlock(&l->lock);
	if (c != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((c->tc = tm_client_new(&l->opts, err, errlen)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

/* Puts c back on the free list; ended: it was in flight. */
static void
call_put(struct tm_loop *l, struct tm_call *c, bool ended)
{
	pthread_mutex_lock(&l->lock);
	c->next = l->idle;
	l->idle = c;
	if (ended)
		l->in_flight--;
	pthread_mutex_unlock(&l->lock);
}

/* Ends a call that the multi handle had: classified, reported, back to the free list. Its result
 * lives on the loop's stack for the moment done reads it, not in each call object. */
static void
call_end(struct tm_loop *l, struct tm_call *c, CURLcode rc)
{
	struct tm_result res;

	tm_client_end(c->tc, rc, clock_now_ms_f() - c->start_ms, &res);
	c->done(c->arg, &res);
	call_put(l, c, true);
}

/* Hands the queued calls to the multi handle. */
static void
start_queued(struct tm_loop *l)
{
	struct tm_call *c, *next;

	pthread_mutex_lock(&l->lock);
	c = l->queued;
	l->queued = NULL;
	l->queued_tail = &l->queued;
	pthread_mutex_unlock(&l->lock);
	for (; c != NULL; c = next) {
		CURLMcode mc;

		next = c->next;
		c->start_ms = clock_now_ms_f();
		mc = curl_multi_add_handle(l->multi, tm_client_handle(c->tc));
		if (mc != CURLM_OK) {
			log_error("tm loop: cannot start a call: %s", curl_multi_strerror(mc));
			/* Nothing was sent: the transfer never started. */
			call_end(l, c, CURLE_COULDNT_CONNECT);
		}
	}
}

/* Ends every transfer the multi handle reports done. */
static void
end_finished(struct tm_loop *l)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left)) != NULL) {
		struct tm_call *c = NULL;
		CURLcode rc = msg->data.result;
		CURL *h = msg->easy_handle;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(l->multi, h);
		if (c != NULL)
			call_end(l, c, rc);
	}
}

static bool
loop_done(struct tm_loop *l)
{
	bool done;

	pthread_mutex_lock(&l->lock);
	done = l->stopping && l->in_flight == 0;
	pthread_mutex_unlock(&l->lock);
	return done;
}

static void *
loop_main(void *arg)
{
	struct tm_loop *l = arg;
	int running = 0;

	while (!loop_done(l)) {
		start_queued(l);
		curl_multi_perform(l->multi, &running);
		end_finished(l);
		if (loop_done(l))
			break;
		curl_multi_poll(l->multi, NULL, 0, LOOP_POLL_MS, NULL);
	}
	return NULL;
}

static void
loop_release(struct tm_loop *l)
{
	while (l->idle != NULL) {
		struct tm_call *c = l->idle;

		l->idle = c->next;
		call_free(c);
	}
	if (l->multi != NULL)
		curl_multi_cleanup(l->multi);
	free((char *)l->opts.base_url);
	free((char *)l->opts.partner_id);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

struct tm_loop *
tm_loop_new(const struct tm_client_opts *opts, char *err, size_t errlen)
{
	struct tm_loop *l = calloc(1, sizeof(*l));
	struct tm_call *probe;

	if (l == NULL) {
		snprintf(err, errlen, "tm loop: out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->queued_tail = &l->queued;
	l->opts = *opts;
	l->opts.base_url = strdup(opts->base_url ? opts->base_url : "");
	l->opts.partner_id = strdup(opts->partner_id ? opts->partner_id : "");
	/* The first call object checks the options (and libcurl's set-up) now, not at a call. */
	if (l->opts.base_url == NULL || l->opts.partner_id == NULL ||
	    (l->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "tm loop: out of memory");
		goto fail;
	}
	if ((probe = call_get(l, err, errlen)) == NULL)
		goto fail;
	l->idle = probe;
	if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
		snprintf(err, errlen, "tm loop: cannot start its thread");
		goto fail;
	}
	pthread_setname_np(l->thread, "tm-loop");
	return l;
fail:
	loop_release(l);
	return NULL;
}

void
tm_loop_free(struct tm_loop *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_mutex_unlock(&l->lock);
	curl_multi_wakeup(l->multi);
	pthread_join(l->thread, NULL);
	loop_release(l);
}

int
tm_loop_submit(struct tm_loop *l, const struct tm_request *req, tm_loop_done_fn done, void *arg,
	       struct tm_result *res)
{
	struct tm_call *c;
	bool refused;

	/* Whatever happens, res is this call's, not a previous attempt's. */
	tm_result_init(res);
	c = call_get(l, res->error, sizeof(res->error));
	if (c == NULL) {
		res->outcome = TM_NOT_SENT;
		return -1;
	}
	if (tm_client_begin(c->tc, req, res) < 0)
		goto back;
	c->done = done;
	c->arg = arg;
	c->next = NULL;
	curl_easy_setopt(tm_client_handle(c->tc), CURLOPT_PRIVATE, (char *)c);
	pthread_mutex_lock(&l->lock);
	refused = l->stopping;
	if (!refused) {
		*l->queued_tail = c;
		l->queued_tail = &c->next;
		l->in_flight++;
	}
	pthread_mutex_unlock(&l->lock);
	if (!refused) {
		curl_multi_wakeup(l->multi);
		return 0;
	}
	res->outcome = TM_NOT_SENT;
	snprintf(res->error, sizeof(res->error), "tm loop stopping");
back:
	call_put(l, c, false);
	return -1;
}

/* An answer that arrived when no memory could be had to keep it: for the caller, a lost one. */
static const struct tm_result answer_lost = {
    .outcome = TM_AMBIGUOUS,
    .http_status = 0,
    .retry_after_ms = -1,
    .may_have_acted = true,
    .rooms = -1,
    .participants = -1,
    .error = "out of memory: TM's answer could not be kept (TM may have acted)",
};

const struct tm_result *
tm_loop_answer_lost(void)
{
	return &answer_lost;
}

/* One tm_loop_take's wait for its end: a thread blocks, a fiber parks (fwait.h). */
struct tm_wait {
	pthread_mutex_t lock;
	struct fcond cond;
	struct tm_loop *loop;
	struct tm_result *res; /* the answer's copy, made on its arrival; NULL: none could be */
	bool ended;
};

/* Whether this answer is one tm_loop_forget_answers asked to drop. */
static bool
answer_forgotten(struct tm_loop *l)
{
	unsigned n = atomic_load(&l->forget);

	while (n > 0 && !atomic_compare_exchange_weak(&l->forget, &n, n - 1))
		;
	return n > 0;
}

void
tm_loop_forget_answers(struct tm_loop *l, unsigned n)
{
	atomic_fetch_add(&l->forget, n);
}

static void
wait_done(void *arg, const struct tm_result *res)
{
	struct tm_wait *w = arg;
	struct tm_result *copy = NULL;

	if (!answer_forgotten(w->loop) && (copy = malloc(sizeof(*copy))) != NULL)
		*copy = *res;
	pthread_mutex_lock(&w->lock);
	w->res = copy;
	w->ended = true;
	fcond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* tm_loop_submit for tm_loop_take: a submission's error result lives in this frame, which is
 * gone before the wait (a parked fiber keeps none of its 2 KiB); on the heap when refused. */
static __attribute__((noinline)) int
take_submit(struct tm_loop *l, const struct tm_request *req, struct tm_wait *w,
	    struct tm_result **refused)
{
	struct tm_result res;

	if (tm_loop_submit(l, req, wait_done, w, &res) == 0)
		return 0;
	if ((*refused = malloc(sizeof(**refused))) != NULL)
		**refused = res;
	return -1;
}

int
tm_loop_take(struct tm_loop *l, const struct tm_request *req, struct tm_result **res)
{
	struct tm_wait w = {.loop = l, .res = NULL, .ended = false};
	int rc;

	*res = NULL;
	pthread_mutex_init(&w.lock, NULL);
	fcond_init(&w.cond);
	rc = take_submit(l, req, &w, res);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.ended)
			fcond_wait(&w.cond, &w.lock, -1);
		pthread_mutex_unlock(&w.lock);
		*res = w.res;
	}
	fcond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

int
tm_loop_call(struct tm_loop *l, const struct tm_request *req, struct tm_result *res)
{
	struct tm_result *got = NULL;
	int rc = tm_loop_take(l, req, &got);

	if (got != NULL)
		*res = *got;
	else if (rc == 0)
		*res = answer_lost;
	else {
		tm_result_init(res);
		res->outcome = TM_NOT_SENT;
		snprintf(res->error, sizeof(res->error), "tm loop: out of memory");
	}
	free(got);
	return rc;
}

const char *
tm_loop_base_url(const struct tm_loop *l)
{
	return l->opts.base_url;
}

size_t
tm_loop_in_flight(struct tm_loop *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->in_flight;
	pthread_mutex_unlock(&l->lock);
	return n;
}
