/* offsets: per-partition rings of in-flight offsets, in consumption (= offset) order, so the
 * lowest offset not done is at the front; a completion is found by binary search (see
 * offsets.h). */
#include "offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	int64_t offset;
	bool done;
};

struct part {
	bool active;
	uint64_t epoch;
	struct entry *ring; /* capacity cap, a power of two; n entries from head */
	size_t cap, head, n;
	size_t pending;	   /* entries not done */
	int64_t next;	   /* last offset seen + 1; -1 when none */
	int64_t committed; /* last offset committed; -1 when none */
};

struct offsets {
	char *topic;
	struct part *parts; /* indexed by partition number */
	size_t nparts;
	uint64_t epochs;
};

#define RING_MIN 64

struct offsets *
offsets_new(const char *topic)
{
	struct offsets *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->topic = strdup(topic);
	if (!o->topic) {
		free(o);
		return NULL;
	}
	return o;
}

void
offsets_free(struct offsets *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nparts; i++)
		free(o->parts[i].ring);
	free(o->parts);
	free(o->topic);
	free(o);
}

static struct part *
part_get(const struct offsets *o, int32_t partition)
{
	if (partition < 0 || (size_t)partition >= o->nparts || !o->parts[partition].active)
		return NULL;
	return &o->parts[partition];
}

int
offsets_assign(struct offsets *o, int32_t partition)
{
	struct part *p;

	if (partition < 0)
		return -1;
	if ((size_t)partition >= o->nparts) {
		size_t n = (size_t)partition + 1;
		struct part *np = realloc(o->parts, n * sizeof(*np));

		if (!np)
			return -1;
		memset(np + o->nparts, 0, (n - o->nparts) * sizeof(*np));
		o->parts = np;
		o->nparts = n;
	}
	p = &o->parts[partition];
	p->active = true;
	p->epoch = ++o->epochs;
	p->head = p->n = p->pending = 0;
	p->next = -1;
	p->committed = -1;
	return 0;
}

void
offsets_revoke(struct offsets *o, int32_t partition)
{
	struct part *p = part_get(o, partition);

	if (!p)
		return;
	p->active = false;
	p->n = p->pending = 0;
	free(p->ring);
	p->ring = NULL;
	p->cap = 0;
}

bool
offsets_assigned(const struct offsets *o, int32_t partition)
{
	return part_get(o, partition) != NULL;
}

static struct entry *
ring_at(const struct part *p, size_t i)
{
	return &p->ring[(p->head + i) & (p->cap - 1)];
}

/* Doubles the ring, unwrapping it to start at 0. */
static int
ring_grow(struct part *p)
{
	size_t cap = p->cap ? p->cap * 2 : RING_MIN;
	struct entry *r = malloc(cap * sizeof(*r));

	if (!r)
		return -1;
	for (size_t i = 0; i < p->n; i++)
		r[i] = *ring_at(p, i);
	free(p->ring);
	p->ring = r;
	p->cap = cap;
	p->head = 0;
	return 0;
}

int
offsets_track(struct offsets *o, struct job *j)
{
	struct part *p = part_get(o, j->partition);
	struct entry *e;

	if (!p || strcmp(j->topic, o->topic) != 0 || j->offset < 0 ||
	    (p->next >= 0 && j->offset < p->next))
		return -1;
	if (p->n == p->cap && ring_grow(p) != 0)
		return -2;
	e = ring_at(p, p->n++);
	e->offset = j->offset;
	e->done = false;
	p->pending++;
	p->next = j->offset + 1;
	j->epoch = p->epoch;
	return 0;
}

/* Index of offset in p's ring, or -1. The ring is sorted by offset. */
static long
ring_find(const struct part *p, int64_t offset)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int64_t v = ring_at(p, mid)->offset;

		if (v == offset)
			return (long)mid;
		if (v < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void
offsets_done(struct offsets *o, const struct job *j)
{
	struct part *p = part_get(o, j->partition);
	long i;

	if (!p || p->epoch != j->epoch)
		return;
	i = ring_find(p, j->offset);
	if (i < 0 || ring_at(p, (size_t)i)->done)
		return;
	ring_at(p, (size_t)i)->done = true;
	p->pending--;
	/* The front is always the lowest offset not done. */
	while (p->n && ring_at(p, 0)->done) {
		p->head = (p->head + 1) & (p->cap - 1);
		p->n--;
	}
}

int64_t
offsets_committable(const struct offsets *o, int32_t partition)
{
	const struct part *p = part_get(o, partition);

	if (!p)
		return -1;
	return p->n ? ring_at(p, 0)->offset : p->next;
}

size_t
offsets_inflight(const struct offsets *o, int32_t partition)
{
	const struct part *p = part_get(o, partition);

	return p ? p->pending : 0;
}

int64_t
offsets_committed(const struct offsets *o, int32_t partition)
{
	const struct part *p = part_get(o, partition);

	return p ? p->committed : -1;
}

static bool
in_list(const rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition)
{
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].partition == partition && strcmp(l->elems[i].topic, topic) == 0)
			return true;
	return false;
}

/* The commit list of offsets_commit: the assigned partitions of only (NULL: all) whose
 * committable offset differs from the last one committed. */
static rd_kafka_topic_partition_list_t *
commit_list(const struct offsets *o, const rd_kafka_topic_partition_list_t *only)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);

	for (size_t i = 0; i < o->nparts; i++) {
		const struct part *p = &o->parts[i];
		int64_t off = offsets_committable(o, (int32_t)i);

		if (!p->active || off < 0 || off == p->committed)
			continue;
		if (only && !in_list(only, o->topic, (int32_t)i))
			continue;
		rd_kafka_topic_partition_list_add(l, o->topic, (int32_t)i)->offset = off;
	}
	return l;
}

/* Commits l and waits up to wait_ms for the broker's answer, which then replaces l's elements
 * (each partition's own .err). librdkafka's synchronous commit waits without a bound (a silent
 * coordinator: socket.timeout.ms and retries), so the answer comes through a queue of our own. */
static rd_kafka_resp_err_t
commit_within(rd_kafka_t *rk, rd_kafka_topic_partition_list_t **l, int wait_ms)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev = NULL;
	rd_kafka_resp_err_t rc;

	rc = rd_kafka_commit_queue(rk, *l, q, NULL, NULL);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
		goto out;
	ev = rd_kafka_queue_poll(q, wait_ms);
	if (ev == NULL) {
		rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
		goto out;
	}
	rc = rd_kafka_event_error(ev);
	if (rd_kafka_event_topic_partition_list(ev) != NULL) {
		rd_kafka_topic_partition_list_destroy(*l);
		*l = rd_kafka_topic_partition_list_copy(rd_kafka_event_topic_partition_list(ev));
	}
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	/* An answer arriving later is dropped with the disabled queue; offset_commit_cb gets its
	 * copy through the consumer queue all the same. */
	rd_kafka_queue_destroy(q);
	return rc;
}

int
offsets_commit(struct offsets *o, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *only,
	       bool async, char *err, size_t errlen)
{
	return offsets_commit_wait(o, rk, only, async ? 0 : OFFSETS_COMMIT_WAIT_MS, err, errlen);
}

int
offsets_commit_wait(struct offsets *o, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *only,
		    int wait_ms, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = commit_list(o, only);
	rd_kafka_resp_err_t rc;
	int n = 0;

	if (l->cnt == 0)
		goto out;
	rc = wait_ms > 0 ? commit_within(rk, &l, wait_ms) : rd_kafka_commit(rk, l, 1);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka: commit of %d partition(s) of %s: %s", l->cnt,
			 o->topic, rd_kafka_err2str(rc));
		n = -1;
		goto out;
	}
	for (int i = 0; i < l->cnt; i++) {
		/* A synchronous commit reports each partition's own result. */
		if (wait_ms > 0 && l->elems[i].err) {
			snprintf(err, errlen, "kafka: commit of %s [%d]: %s", o->topic,
				 l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
			n = -1;
			continue;
		}
		if (strcmp(l->elems[i].topic, o->topic) != 0 || !part_get(o, l->elems[i].partition))
			continue;
		o->parts[l->elems[i].partition].committed = l->elems[i].offset;
		if (n >= 0)
			n++;
	}
out:
	rd_kafka_topic_partition_list_destroy(l);
	return n;
}

/* Forgets e's commit unless a newer one was made meanwhile (committed -1 forces a new commit).
 * Returns whether e is of our topic. */
static bool
commit_forget(struct offsets *o, const rd_kafka_topic_partition_t *e)
{
	struct part *p;

	if (strcmp(e->topic, o->topic) != 0)
		return false;
	p = part_get(o, e->partition);
	if (p && p->committed == e->offset)
		p->committed = -1;
	return true;
}

void
offsets_commit_failed(struct offsets *o, const rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].err)
			commit_forget(o, &parts->elems[i]);
}

int
offsets_commit_result(struct offsets *o, rd_kafka_resp_err_t err,
		      const rd_kafka_topic_partition_list_t *parts)
{
	bool per_partition = false;
	int n = 0;

	if (!parts || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return 0;
	for (int i = 0; i < parts->cnt; i++)
		per_partition = per_partition || parts->elems[i].err;
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *e = &parts->elems[i];

		/* A partition's own error, or the request's when no partition carries one (the
		 * request failed as a whole). */
		if ((e->err || (err && !per_partition)) && commit_forget(o, e))
			n++;
	}
	return n;
}
