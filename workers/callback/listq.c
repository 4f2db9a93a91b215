/* listq: meeting lists by the batch. Batches form from what waits when a thread is free, never by
 * holding a request back to fill one: an idle server answers each list at once, a busy one
 * answers up to SESSION_BATCH_MAX in one round trip (make bench, 6a). */
#include "listq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "session.h"

_Static_assert(sizeof(((struct request *)0)->list_hash) == SESSION_HASH_HEX,
	       "request.list_hash holds one session_hash_hex");

struct listq {
	const struct cb *cb;
	listq_answer_fn answer;
	pthread_mutex_t mu;
	pthread_cond_t ready;
	struct request *head, **tail; /* queued, oldest first */
	bool stopping;
	unsigned nthreads; /* started */
	pthread_t *threads;
};

/* Answers jobs[0..n) from one statement and resumes their connections. */
static void
listq_run(struct listq *q, struct request **jobs, size_t n, bool stopping)
{
	const struct cb *cb = q->cb;
	const struct session_list list = {cb->session_ttl_ms, cb->timezone, cb->meeting_past_ms,
					  cb->meeting_list_max};
	const char *hex[SESSION_BATCH_MAX];
	PGresult *res = NULL;
	struct db *db = NULL;
	char err[256] = "stopping";
	int rc = -1, row = 0, rows;

	for (size_t k = 0; k < n; k++)
		hex[k] = jobs[k]->list_hash;
	if (!stopping && (db = cbpool_get(cb->dbpool, err, sizeof(err))) != NULL)
		rc = session_meetings(db, hex, n, &list, &res, err, sizeof(err));
	if (rc != 0)
		log_warn("meetings: %s", err);
	rows = res != NULL ? PQntuples(res) : 0;
	for (size_t k = 0; k < n; k++) {
		int first = row;

		/* Rows come by i = k + 1, so each request's rows are the next run of them. */
		while (row < rows && atol(PQgetvalue(res, row, SESSION_COL_I)) == (long)k + 1)
			row++;
		q->answer(jobs[k], res, first, row - first, rc != 0);
		jobs[k]->list = LIST_ANSWERED;
		/* The connection's thread may complete and free the request from here on. */
		MHD_resume_connection(jobs[k]->conn);
	}
	PQclear(res);
}

static void *
listq_main(void *arg)
{
	struct listq *q = arg;
	struct request *jobs[SESSION_BATCH_MAX];

	for (;;) {
		size_t n = 0;
		bool stopping;

		pthread_mutex_lock(&q->mu);
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->ready, &q->mu);
		for (; q->head != NULL && n < SESSION_BATCH_MAX; n++) {
			jobs[n] = q->head;
			if ((q->head = jobs[n]->list_next) == NULL)
				q->tail = &q->head;
		}
		stopping = q->stopping;
		pthread_mutex_unlock(&q->mu);
		if (n == 0)
			return NULL; /* stopping, nothing left */
		listq_run(q, jobs, n, stopping);
	}
}

struct listq *
listq_start(const struct cb *cb, unsigned threads, listq_answer_fn answer, char *err,
	    size_t errlen)
{
	struct listq *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->threads = calloc(threads, sizeof(*q->threads))) == NULL) {
		free(q);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->cb = cb;
	q->answer = answer;
	q->tail = &q->head;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->ready, NULL);
	for (; q->nthreads < threads; q->nthreads++)
		if (pthread_create(&q->threads[q->nthreads], NULL, listq_main, q) != 0) {
			snprintf(err, errlen, "cannot start meeting-list threads");
			listq_stop(q);
			return NULL;
		}
	return q;
}

int
listq_submit(struct listq *q, struct request *rq)
{
	pthread_mutex_lock(&q->mu);
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	/* Suspended before any thread can see it, so that its resume never comes first. */
	MHD_suspend_connection(rq->conn);
	rq->list = LIST_QUEUED;
	rq->list_next = NULL;
	*q->tail = rq;
	q->tail = &rq->list_next;
	pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

void
listq_stop(struct listq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q);
}
