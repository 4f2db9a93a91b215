/* bench_tm: the tm-client scenario — calls per second through common/tm_client from several
 * threads, or through one common/tm_loop keeping as many in flight, idempotent (query_account on
 * a kept-alive connection) or not (create_account on a fresh connection each) — and the
 * accounts the TM scenarios query. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_stats.h"
#include "clock.h"
#include "tm_loop.h"

#define BENCH_TM_THREADS_MAX 1024

struct bench_tm_run {
	const struct bench_opts *o;
	struct tm_client_opts tmo;
	bool create; /* create_account, else query_account */
	char (*uids)[TM_COMPANY_UID_MAX + 1];
	size_t nuids;
	pthread_barrier_t start;
	atomic_long budget; /* calls left when --calls is given */
};

struct bench_tm_thread {
	struct bench_tm_run *run;
	pthread_t tid;
	size_t index;
	struct bench_samples lat;
	long calls, errors, new_connections;
	int samples_rc;
	char first_error[TM_ERROR_MAX + 64];
};

int
bench_tm_seed(const struct tm_client_opts *tmo, size_t n, char (*uids)[TM_COMPANY_UID_MAX + 1],
	      char *err, size_t errlen)
{
	struct tm_client *tc = tm_client_new(tmo, err, errlen);
	struct tm_result res;
	char name[64], email[64];
	int rc = -1;

	if (tc == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct tm_request req = {.endpoint = TM_CREATE_ACCOUNT,
					 .company_name = name,
					 .email = email,
					 .rooms = 1,
					 .participants = 10};

		snprintf(name, sizeof(name), "bench seed %zu", i);
		snprintf(email, sizeof(email), "seed%zu@bench.example", i);
		if (tm_client_call(tc, &req, &res) != 0 || res.outcome != TM_OK) {
			snprintf(err, errlen, "seeding account %zu: %s", i, res.error);
			goto out;
		}
		memcpy(uids[i], res.company_uid, sizeof(uids[i]));
	}
	rc = 0;
out:
	tm_client_free(tc);
	return rc;
}

/* The request of call seq of caller index, as the scenario's mode says; name and email hold a
 * create's strings (64 bytes each). */
static struct tm_request
bench_tm_request(const struct bench_tm_run *run, size_t index, long seq, char *name, char *email)
{
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT};

	if (run->create) {
		snprintf(name, 64, "bench %zu-%ld", index, seq);
		snprintf(email, 64, "b%zux%ld@bench.example", index, seq);
		req = (struct tm_request){.endpoint = TM_CREATE_ACCOUNT,
					  .company_name = name,
					  .email = email,
					  .rooms = 1,
					  .participants = 10};
	} else {
		req.company_uid = run->uids[(index + (size_t)seq) % run->nuids];
	}
	return req;
}

/* One call as the scenario's mode says; returns true when TM answered ok. */
static bool
bench_tm_call(struct bench_tm_thread *t, struct tm_client *tc, long seq, struct tm_result *res)
{
	char name[64], email[64];
	struct tm_request req = bench_tm_request(t->run, t->index, seq, name, email);

	return tm_client_call(tc, &req, res) == 0 && res->outcome == TM_OK;
}

static void
bench_tm_note_error(struct bench_tm_thread *t, const struct tm_result *res)
{
	if (t->errors++ == 0)
		snprintf(t->first_error, sizeof(t->first_error), "%s: %s",
			 tm_outcome_name(res->outcome), res->error);
}

/* A thread's first call is made before the start barrier: it opens the kept-alive connection
 * of the query mode, which is set-up, not throughput. */
static void *
bench_tm_thread_main(void *arg)
{
	struct bench_tm_thread *t = arg;
	struct bench_tm_run *run = t->run;
	struct tm_client *tc = tm_client_new(&run->tmo, t->first_error, sizeof(t->first_error));
	struct tm_result res;
	long seq = 0;
	double end;

	if (tc != NULL && !bench_tm_call(t, tc, seq++, &res))
		bench_tm_note_error(t, &res);
	if (tc == NULL)
		t->errors++;
	pthread_barrier_wait(&run->start);
	end = bench_deadline(run->o->duration_ms);
	while (tc != NULL && t->samples_rc == 0 && clock_now_ms_f() < end) {
		if (run->o->calls > 0 && atomic_fetch_sub(&run->budget, 1) <= 0)
			break;
		if (!bench_tm_call(t, tc, seq++, &res))
			bench_tm_note_error(t, &res);
		t->calls++;
		t->new_connections += res.new_connections;
		t->samples_rc = bench_samples_add(&t->lat, res.elapsed_ms);
	}
	tm_client_free(tc);
	return NULL;
}

/* Sums the threads' counts and samples into lat; -1 with err on the first failure seen. */
static int
bench_tm_collect(struct bench_tm_thread *th, long n, struct bench_samples *lat, long *calls,
		 long *conns, char *err, size_t errlen)
{
	long errors = 0;
	const char *first = NULL;

	for (long i = 0; i < n; i++) {
		int rc = th[i].samples_rc ? th[i].samples_rc : bench_samples_merge(lat, &th[i].lat);

		if (rc != 0) {
			snprintf(err, errlen, "%s", bench_samples_strerror(rc));
			return -1;
		}
		*calls += th[i].calls;
		*conns += th[i].new_connections;
		errors += th[i].errors;
		if (first == NULL && th[i].errors)
			first = th[i].first_error;
	}
	if (errors > 0) {
		snprintf(err, errlen, "%ld of %ld calls failed; first: %s", errors, *calls, first);
		return -1;
	}
	return 0;
}

static int
bench_tm_setup(struct bench_tm_run *run, const struct bench_opts *o, char *err, size_t errlen)
{
	memset(run, 0, sizeof(*run));
	run->o = o;
	run->create = strcmp(o->mode, "create") == 0 || strcmp(o->mode, "loop-create") == 0;
	if (tm_client_opts_from_cfg(&run->tmo, o->cfg) != 0) {
		snprintf(err, errlen, "TMPROV_TM_URL and TMPROV_PARTNER_ID must be set");
		return -1;
	}
	run->nuids = 16;
	run->uids = calloc(run->nuids, sizeof(*run->uids));
	if (run->uids == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_store(&run->budget, o->calls);
	return bench_tm_seed(&run->tmo, run->nuids, run->uids, err, errlen);
}

/* ---- through one tm_loop ---- */

/* The loop mode's state: --threads calls kept in flight by resubmitting from each call's end
 * (on the loop's thread, so the counts and samples need no lock). */
struct bench_tm_looped {
	struct bench_tm_run *run;
	struct tm_loop *loop;
	double end_ms;
	atomic_long seq;
	long calls, conns;
	int samples_rc;
	struct bench_tm_thread errs; /* errors and first_error only */
	struct bench_samples lat;
};

static void bench_tm_looped_next(struct bench_tm_looped *b);

/* Whether another call may start: before the deadline, and within --calls when given. */
static bool
bench_tm_looped_more(struct bench_tm_looped *b)
{
	return clock_now_ms_f() < b->end_ms &&
	       (b->run->o->calls <= 0 || atomic_fetch_sub(&b->run->budget, 1) > 0);
}

static void
bench_tm_looped_done(void *arg, const struct tm_result *res)
{
	struct bench_tm_looped *b = arg;

	if (res->outcome != TM_OK)
		bench_tm_note_error(&b->errs, res);
	b->calls++;
	b->conns += res->new_connections;
	if (b->samples_rc == 0)
		b->samples_rc = bench_samples_add(&b->lat, res->elapsed_ms);
	if (bench_tm_looped_more(b))
		bench_tm_looped_next(b);
}

static void
bench_tm_looped_next(struct bench_tm_looped *b)
{
	char name[64], email[64];
	long seq = atomic_fetch_add(&b->seq, 1);
	struct tm_request req = bench_tm_request(b->run, 0, seq, name, email);
	struct tm_result res;

	if (tm_loop_submit(b->loop, &req, bench_tm_looped_done, b, &res) != 0)
		bench_tm_note_error(&b->errs, &res);
}

/* --threads calls in flight on one loop for the duration; fills calls, conns, lat. */
static int
bench_tm_looped(struct bench_tm_run *run, long n, struct bench_samples *lat, long *calls,
		long *conns, double *elapsed, char *err, size_t errlen)
{
	struct bench_tm_looped b = {.run = run};
	double t0;
	int rc = -1;

	bench_samples_init(&b.lat);
	b.loop = tm_loop_new(&run->tmo, err, errlen);
	if (b.loop == NULL)
		return -1;
	t0 = clock_now_ms_f();
	b.end_ms = bench_deadline(run->o->duration_ms);
	for (long i = 0; i < n && bench_tm_looped_more(&b); i++)
		bench_tm_looped_next(&b);
	while (tm_loop_in_flight(b.loop) > 0)
		usleep(1000);
	*elapsed = clock_now_ms_f() - t0;
	tm_loop_free(b.loop);
	if (b.errs.errors > 0) {
		snprintf(err, errlen, "%ld of %ld calls failed; first: %s", b.errs.errors, b.calls,
			 b.errs.first_error);
		goto out;
	}
	if (b.samples_rc != 0 || bench_samples_merge(lat, &b.lat) != 0) {
		snprintf(err, errlen, "%s",
			 bench_samples_strerror(b.samples_rc ? b.samples_rc : -1));
		goto out;
	}
	*calls = b.calls;
	*conns = b.conns;
	rc = 0;
out:
	bench_samples_free(&b.lat);
	return rc;
}

/* --threads threads, each with its tm_client. */
static int
bench_tm_threaded(struct bench_tm_run *run, long n, struct bench_samples *lat, long *calls,
		  long *conns, double *elapsed, char *err, size_t errlen)
{
	long started = 0;
	struct bench_tm_thread *th = calloc((size_t)n, sizeof(*th));
	double t0;
	int rc = -1;

	if (th == NULL || pthread_barrier_init(&run->start, NULL, (unsigned)n + 1) != 0) {
		snprintf(err, errlen, "out of memory");
		free(th);
		return -1;
	}
	for (; started < n; started++) {
		th[started].run = run;
		th[started].index = (size_t)started;
		bench_samples_init(&th[started].lat);
		if (pthread_create(&th[started].tid, NULL, bench_tm_thread_main, &th[started]) != 0)
			break;
	}
	if (started < n) {
		/* The barrier counts on n threads: without them the started ones would wait
		 * forever. */
		fprintf(stderr, "tmprov-bench: cannot start thread %ld of %ld\n", started + 1, n);
		_exit(1);
	}
	pthread_barrier_wait(&run->start);
	t0 = clock_now_ms_f();
	for (long i = 0; i < n; i++)
		pthread_join(th[i].tid, NULL);
	*elapsed = clock_now_ms_f() - t0;
	pthread_barrier_destroy(&run->start);
	rc = bench_tm_collect(th, n, lat, calls, conns, err, errlen);
	for (long i = 0; i < started; i++)
		bench_samples_free(&th[i].lat);
	free(th);
	return rc;
}

int
bench_tm_client(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	long n = o->threads, calls = 0, conns = 0;
	bool looped = strncmp(o->mode, "loop-", 5) == 0;
	struct bench_samples lat;
	struct bench_tm_run run;
	double elapsed = 0;
	int rc = -1;

	bench_samples_init(&lat);
	if (n > BENCH_TM_THREADS_MAX) {
		snprintf(err, errlen, "tm-client: at most %d threads", BENCH_TM_THREADS_MAX);
		return -1;
	}
	if (bench_tm_setup(&run, o, err, errlen) != 0)
		goto out;
	if ((looped ? bench_tm_looped : bench_tm_threaded)(&run, n, &lat, &calls, &conns, &elapsed,
							   err, errlen) != 0)
		goto out;
	if (calls == 0) {
		snprintf(err, errlen, "no call completed");
		goto out;
	}
	r->unit = "calls/s";
	r->params = json_pack("{s:s, s:s, s:i, s:b}", "endpoint",
			      run.create ? "create_account" : "query_account", "mode", o->mode,
			      looped ? "in_flight" : "threads", (json_int_t)n, "connection_reuse",
			      !run.create);
	r->counts = json_pack("{s:i, s:i, s:f}", "calls", (json_int_t)calls, "connections_opened",
			      (json_int_t)conns, "elapsed_ms", elapsed);
	r->figures = json_object();
	if (r->params == NULL || r->counts == NULL || r->figures == NULL ||
	    bench_figures_put(r->figures, (double)calls * 1e3 / elapsed, &lat) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(run.uids);
	bench_samples_free(&lat);
	return rc;
}
