/* dlq: byte-for-byte copies of commands on TMPROV_TOPIC_DLQ with their own headers and tmprov's
 * (prefixed: common/dlqdef.h), each waited for until its delivery report; a copy
 * too large to be produced goes truncated instead. Owns its producer and the thread that serves
 * that producer's delivery reports. */
#include "dlq.h"

#include <inttypes.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cfgkeys.h"
#include "deadline.h"
#include "dlqdef.h"
#include "fwait.h"
#include "kafka.h"
#include "log.h"
#include "tmretry.h"
#include "validate.h"

/* A copy over the producer's message.max.bytes (or the broker's limit) is never accepted, and
 * producing it again would block its partition for ever (issue 11, defect 3). It goes in the
 * next smaller form instead: the first 64 KiB (a command is at most that, so the start shows
 * what it was), then nothing, each with a header giving the size that was cut. */
enum dlq_form {
	DLQ_WHOLE,
	DLQ_PREFIX,
	DLQ_EMPTY,
	DLQ_NFORMS,
};

#define DLQ_PREFIX_MAX (64 * 1024)
#define DLQ_KEY_SHORT  1024

static const struct {
	size_t value_max, key_max;
} dlq_forms[DLQ_NFORMS] = {
    [DLQ_WHOLE] = {SIZE_MAX, SIZE_MAX},
    [DLQ_PREFIX] = {DLQ_PREFIX_MAX, DLQ_PREFIX_MAX},
    [DLQ_EMPTY] = {0, DLQ_KEY_SHORT},
};

/* What one attempt came to. */
enum dlq_result {
	DLQ_SENT,
	DLQ_RETRY,     /* failed; the same form may go through later */
	DLQ_TOO_LARGE, /* the form is over a size limit: only a smaller one can go */
	DLQ_STOPPED,
};

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
	struct fcond reported; /* commands (fibers: fwait.h) wait on it */
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
		fcond_broadcast(&d->reported);
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
	fcond_init(&d->reported);
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
	fcond_destroy(&d->reported);
	pthread_mutex_destroy(&d->lock);
	free(d->topic);
	free(d);
	return NULL;
}

void
dlq_free(struct dlq *d)
{
	dlq_free_within(d, DLQ_FREE_FLUSH_MS);
}

void
dlq_free_within(struct dlq *d, int flush_ms)
{
	char err[256];

	if (d == NULL)
		return;
	if (kafka_flush(d->producer, flush_ms, err, sizeof(err)) != 0)
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
	fcond_destroy(&d->reported);
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

/* The original headers but those under tmprov's prefix: a producer cannot pass its own header
 * off as tmprov's (nor a replayed copy keep a stale reason). */
static rd_kafka_headers_t *
dlq_original_headers(const rd_kafka_headers_t *orig)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(orig ? rd_kafka_header_cnt(orig) + 8 : 8);
	const char *name;
	const void *val;
	size_t len;

	if (h == NULL || orig == NULL)
		return h;
	for (size_t i = 0;
	     rd_kafka_header_get_all(orig, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++) {
		if (strncmp(name, DLQ_HDR_PREFIX, strlen(DLQ_HDR_PREFIX)) == 0)
			continue;
		/* val NULL: a header without a value, kept as such. */
		if (rd_kafka_header_add(h, name, -1, val, val ? (ssize_t)len : 0) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_headers_destroy(h);
			return NULL;
		}
	}
	return h;
}

rd_kafka_headers_t *
dlq_headers(const struct dlq_copy *copy)
{
	rd_kafka_headers_t *h = dlq_original_headers(copy->headers);
	char partition[16], offset[24];
	const void *v;
	size_t len;

	if (h == NULL)
		return NULL;
	snprintf(partition, sizeof(partition), "%" PRId32, copy->origin_partition);
	snprintf(offset, sizeof(offset), "%" PRId64, copy->origin_offset);
	rd_kafka_header_add(h, DLQ_HDR_REASON, -1, copy->reason ? copy->reason : "unknown", -1);
	rd_kafka_header_add(h, DLQ_HDR_ORIGIN_TOPIC, -1,
			    copy->origin_topic ? copy->origin_topic : "", -1);
	rd_kafka_header_add(h, DLQ_HDR_ORIGIN_PARTITION, -1, partition, -1);
	rd_kafka_header_add(h, DLQ_HDR_ORIGIN_OFFSET, -1, offset, -1);
	if (copy->error != NULL && *copy->error != '\0')
		rd_kafka_header_add(h, DLQ_HDR_ERROR, -1, copy->error, -1);
	if (copy->traceparent != NULL && *copy->traceparent != '\0') {
		rd_kafka_header_add(h, DLQ_HDR_TRACEPARENT, -1, copy->traceparent, -1);
		/* Tracing tools follow the plain W3C name; a message's own is left as it was. */
		if (rd_kafka_header_get_last(h, "traceparent", &v, &len) ==
		    RD_KAFKA_RESP_ERR__NOENT)
			rd_kafka_header_add(h, "traceparent", -1, copy->traceparent, -1);
	}
	return h;
}

static size_t
dlq_value_len(const struct dlq_copy *copy, enum dlq_form form)
{
	return copy->len < dlq_forms[form].value_max ? copy->len : dlq_forms[form].value_max;
}

static size_t
dlq_key_len(const struct dlq_copy *copy, enum dlq_form form)
{
	size_t n = copy->key ? copy->keylen : 0;

	return n < dlq_forms[form].key_max ? n : dlq_forms[form].key_max;
}

/* The next form that cuts something DLQ_WHOLE did not, or DLQ_NFORMS when none is left. */
static enum dlq_form
dlq_smaller(const struct dlq_copy *copy, enum dlq_form form)
{
	enum dlq_form next = form + 1;

	while (next < DLQ_NFORMS && dlq_value_len(copy, next) == dlq_value_len(copy, form) &&
	       dlq_key_len(copy, next) == dlq_key_len(copy, form))
		next++;
	return next;
}

/* dlq_headers, plus tmprov.truncated (the value's size) and tmprov.key_truncated (the key's)
 * when form cuts them. */
static rd_kafka_headers_t *
dlq_form_headers(const struct dlq_copy *copy, enum dlq_form form)
{
	rd_kafka_headers_t *h = dlq_headers(copy);
	char size[24];

	if (h == NULL)
		return NULL;
	if (dlq_value_len(copy, form) < copy->len) {
		snprintf(size, sizeof(size), "%zu", copy->len);
		rd_kafka_header_add(h, DLQ_HDR_TRUNCATED, -1, size, -1);
	}
	if (copy->key && dlq_key_len(copy, form) < copy->keylen) {
		snprintf(size, sizeof(size), "%zu", copy->keylen);
		rd_kafka_header_add(h, DLQ_HDR_KEY_TRUNCATED, -1, size, -1);
	}
	return h;
}

static bool
dlq_too_large(rd_kafka_resp_err_t e)
{
	/* The producer's own check and the broker's answer share MSG_SIZE_TOO_LARGE. */
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
	       e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* Waits for p's report; false when stopped first (p then belongs to the poller thread). */
static bool
dlq_wait(struct dlq *d, struct dlq_pending *p, const atomic_bool *stop)
{
	bool done;

	pthread_mutex_lock(&d->lock);
	while (!(done = p->d.done) && !stop_requested(stop))
		fcond_wait(&d->reported, &d->lock, 100);
	if (!done) {
		p->orphan = true;
		p->next = d->orphans;
		d->orphans = p;
	}
	pthread_mutex_unlock(&d->lock);
	return done;
}

/* One produce of copy in form and its report (err says why when not DLQ_SENT). */
static enum dlq_result
dlq_send_once(struct dlq *d, const struct dlq_copy *copy, enum dlq_form form,
	      const atomic_bool *stop, char *err, size_t errlen)
{
	struct dlq_pending *p = calloc(1, sizeof(*p));
	rd_kafka_headers_t *hdrs;
	rd_kafka_resp_err_t e;
	enum dlq_result rc;

	if (p == NULL || (hdrs = dlq_form_headers(copy, form)) == NULL) {
		free(p);
		snprintf(err, errlen, "dlq: out of memory");
		return DLQ_RETRY;
	}
	/* kafka_produce_err takes the headers whatever happens. */
	e = kafka_produce_err(d->producer, d->topic, copy->key, dlq_key_len(copy, form),
			      copy->payload, dlq_value_len(copy, form), hdrs, &p->d, err, errlen);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		free(p);
		return dlq_too_large(e) ? DLQ_TOO_LARGE : DLQ_RETRY;
	}
	/* A report may have been served in this thread (queue full): publish it. */
	pthread_mutex_lock(&d->lock);
	fcond_broadcast(&d->reported);
	pthread_mutex_unlock(&d->lock);
	if (!dlq_wait(d, p, stop)) {
		snprintf(err, errlen, "dlq: stopped before the delivery report");
		return DLQ_STOPPED;
	}
	rc = p->d.err == RD_KAFKA_RESP_ERR_NO_ERROR ? DLQ_SENT
	     : dlq_too_large(p->d.err)		    ? DLQ_TOO_LARGE
						    : DLQ_RETRY;
	if (rc != DLQ_SENT)
		snprintf(err, errlen, "dlq: delivery to %s failed: %s", d->topic,
			 rd_kafka_err2str(p->d.err));
	free(p);
	return rc;
}

int
dlq_send(struct dlq *d, const struct dlq_copy *copy, const atomic_bool *stop, char *err,
	 size_t errlen)
{
	enum dlq_form form = DLQ_WHOLE;
	enum dlq_result rc;
	char labels[96];

	for (unsigned attempt = 0;; attempt++) {
		rc = dlq_send_once(d, copy, form, stop, err, errlen);
		if (rc == DLQ_SENT)
			break;
		if (rc == DLQ_STOPPED)
			return -1;
		if (dlq_failed(d)) /* err says so: kafka_produce reports the fatal error */
			return -1;
		if (rc == DLQ_TOO_LARGE && dlq_smaller(copy, form) < DLQ_NFORMS) {
			form = dlq_smaller(copy, form);
			log_warn("%s (origin %s/%" PRId32 "@%" PRId64
				 ", %zu bytes); producing it truncated to %zu",
				 err, copy->origin_topic, copy->origin_partition,
				 copy->origin_offset, copy->len, dlq_value_len(copy, form));
			continue;
		}
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
