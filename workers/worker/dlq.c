/* dlq: byte-for-byte copies of commands on TMPROV_TOPIC_DLQ with headers reason, origin_topic,
 * origin_partition, origin_offset and error, each waited for until its delivery report. Owns
 * its producer and the thread that serves that producer's delivery reports. */
#include "dlq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cfgkeys.h"
#include "deadline.h"
#include "kafka.h"
#include "log.h"
#include "tmretry.h"

/* A copy waiting for its report. Heap-allocated: a waiter that gives up (stop) leaves it to
 * the poller thread, since librdkafka will still write the report into it. */
struct dlq_pending {
	struct kafka_delivery d;
	bool orphan;
	struct dlq_pending *next;
};

struct dlq {
	rd_kafka_t *producer;
	char *topic;
	struct metrics *metrics;
	pthread_t poller;
	pthread_mutex_t lock;
	pthread_cond_t reported;
	bool stopping;
	struct dlq_pending *orphans;
};

/* Delivery reports run inside rd_kafka_poll (here, or in kafka_produce when the queue is full);
 * the broadcast under the lock afterwards is what makes their writes visible to the waiters. */
static void *
dlq_poll_thread(void *arg)
{
	struct dlq *d = arg;
	bool stopping = false;

	while (!stopping) {
		rd_kafka_poll(d->producer, 50);
		pthread_mutex_lock(&d->lock);
		pthread_cond_broadcast(&d->reported);
		for (struct dlq_pending **pp = &d->orphans; *pp != NULL;) {
			struct dlq_pending *p = *pp;

			if (p->d.done) {
				*pp = p->next;
				free(p);
			} else {
				pp = &p->next;
			}
		}
		stopping = d->stopping;
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

struct dlq *
dlq_new(const struct cfg *c, struct metrics *m, char *err, size_t errlen)
{
	struct dlq *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "dlq: out of memory");
		return NULL;
	}
	d->metrics = m;
	d->topic = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_DLQ));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->reported, NULL);
	if (d->topic == NULL) {
		snprintf(err, errlen, "dlq: out of memory");
		goto fail;
	}
	d->producer = kafka_producer_new(c, err, errlen);
	if (d->producer == NULL)
		goto fail;
	if (pthread_create(&d->poller, NULL, dlq_poll_thread, d) != 0) {
		snprintf(err, errlen, "dlq: cannot start the delivery thread");
		rd_kafka_destroy(d->producer);
		d->producer = NULL;
		goto fail;
	}
	return d;
fail:
	pthread_cond_destroy(&d->reported);
	pthread_mutex_destroy(&d->lock);
	free(d->topic);
	free(d);
	return NULL;
}

void
dlq_free(struct dlq *d)
{
	char err[256];

	if (d == NULL)
		return;
	if (kafka_flush(d->producer, 10000, err, sizeof(err)) != 0)
		log_warn("dlq: %s", err);
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->poller, NULL);
	/* Destroying the producer purges what is left, reporting into the orphans. */
	rd_kafka_destroy(d->producer);
	while (d->orphans != NULL) {
		struct dlq_pending *p = d->orphans;

		d->orphans = p->next;
		free(p);
	}
	pthread_cond_destroy(&d->reported);
	pthread_mutex_destroy(&d->lock);
	free(d->topic);
	free(d);
}

rd_kafka_t *
dlq_producer(struct dlq *d)
{
	return d->producer;
}

bool
dlq_failed(struct dlq *d)
{
	return kafka_fatal(d->producer);
}

rd_kafka_headers_t *
dlq_headers(const struct dlq_copy *copy)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(5);
	char partition[16], offset[24];

	if (h == NULL)
		return NULL;
	snprintf(partition, sizeof(partition), "%" PRId32, copy->origin_partition);
	snprintf(offset, sizeof(offset), "%" PRId64, copy->origin_offset);
	rd_kafka_header_add(h, "reason", -1, copy->reason ? copy->reason : "unknown", -1);
	rd_kafka_header_add(h, "origin_topic", -1, copy->origin_topic ? copy->origin_topic : "",
			    -1);
	rd_kafka_header_add(h, "origin_partition", -1, partition, -1);
	rd_kafka_header_add(h, "origin_offset", -1, offset, -1);
	if (copy->error != NULL && *copy->error != '\0')
		rd_kafka_header_add(h, "error", -1, copy->error, -1);
	return h;
}

/* Waits for p's report; false when stopped first (p then belongs to the poller thread). */
static bool
dlq_wait(struct dlq *d, struct dlq_pending *p, const atomic_bool *stop)
{
	struct timespec until;
	bool done;

	pthread_mutex_lock(&d->lock);
	while (!(done = p->d.done) && !stop_requested(stop)) {
		deadline_after(&until, 100);
		pthread_cond_timedwait(&d->reported, &d->lock, &until);
	}
	if (!done) {
		p->orphan = true;
		p->next = d->orphans;
		d->orphans = p;
	}
	pthread_mutex_unlock(&d->lock);
	return done;
}

/* One produce and its report: 0 delivered, 1 failed (err), -1 stopped. */
static int
dlq_send_once(struct dlq *d, const struct dlq_copy *copy, const atomic_bool *stop, char *err,
	      size_t errlen)
{
	struct dlq_pending *p = calloc(1, sizeof(*p));
	rd_kafka_headers_t *hdrs;
	int rc;

	if (p == NULL || (hdrs = dlq_headers(copy)) == NULL) {
		free(p);
		snprintf(err, errlen, "dlq: out of memory");
		return 1;
	}
	/* kafka_produce takes the headers whatever happens. */
	if (kafka_produce(d->producer, d->topic, copy->key, copy->key ? copy->keylen : 0,
			  copy->payload, copy->len, hdrs, &p->d, err, errlen) != 0) {
		free(p);
		return 1;
	}
	/* A report may have been served in this thread (queue full): publish it. */
	pthread_mutex_lock(&d->lock);
	pthread_cond_broadcast(&d->reported);
	pthread_mutex_unlock(&d->lock);
	if (!dlq_wait(d, p, stop)) {
		snprintf(err, errlen, "dlq: stopped before the delivery report");
		return -1;
	}
	rc = p->d.err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
	if (rc != 0)
		snprintf(err, errlen, "dlq: delivery to %s failed: %s", d->topic,
			 rd_kafka_err2str(p->d.err));
	free(p);
	return rc;
}

int
dlq_send(struct dlq *d, const struct dlq_copy *copy, const atomic_bool *stop, char *err,
	 size_t errlen)
{
	char labels[96];
	int rc;

	for (unsigned attempt = 0;; attempt++) {
		rc = dlq_send_once(d, copy, stop, err, errlen);
		if (rc == 0)
			break;
		if (rc < 0)
			return -1;
		if (dlq_failed(d)) /* err says so: kafka_produce reports the fatal error */
			return -1;
		log_warn("%s (origin %s/%" PRId32 "@%" PRId64 "); producing again", err,
			 copy->origin_topic, copy->origin_partition, copy->origin_offset);
		if (!tmretry_sleep(backoff_delay_ms(&backoff_dlq_produce, attempt), stop))
			return -1;
	}
	log_info("dlq: copy of %s/%" PRId32 "@%" PRId64 " delivered, reason %s", copy->origin_topic,
		 copy->origin_partition, copy->origin_offset, copy->reason);
	if (d->metrics != NULL) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", copy->reason);
		metrics_add(d->metrics, "tmprov_dlq_total", labels, 1);
	}
	return 0;
}
