/* calllog: the TM call log. Parameters are stored packed ("key\0value\0..."), not as JSON, to
 * keep a million entries affordable; JSON is built only when the log is read. */
#include "calllog.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define STATUSES 4

struct call {
	unsigned long seq;
	long at_ms; /* monotonic arrival time, so tests can tell calls that overlapped */
	unsigned char ep, fault, status;
	unsigned char nparams;
	char *params; /* nparams pairs of NUL-terminated key and value */
	char *reason; /* NULL when empty */
	char *from;   /* "peer\0agent\0": who called (query.h), "" when unknown */
};

struct calllog {
	struct call *ring;
	size_t alloc, count, head, max; /* head: index of the oldest entry once the ring is full */
	unsigned long seq;		/* last sequence number given */
	unsigned long by_endpoint[EP_COUNT], by_fault[FAULT_KINDS], by_status[STATUSES];
};

static const char *const status_names[STATUSES] = {"", "SUCCEED", "SUCCEEDED", "FAILED"};

const char *
call_status_name(enum call_status s)
{
	return (unsigned)s < STATUSES ? status_names[s] : "?";
}

struct calllog *
calllog_new(size_t max)
{
	struct calllog *log = calloc(1, sizeof(*log));

	if (log != NULL)
		log->max = max > 0 ? max : 1;
	return log;
}

static void
call_free(struct call *c)
{
	free(c->params);
	free(c->reason);
	free(c->from);
	memset(c, 0, sizeof(*c));
}

void
calllog_clear(struct calllog *log)
{
	size_t max = log->max;

	for (size_t i = 0; i < log->count; i++)
		call_free(&log->ring[i]);
	free(log->ring);
	memset(log, 0, sizeof(*log));
	log->max = max;
}

void
calllog_free(struct calllog *log)
{
	if (log == NULL)
		return;
	calllog_clear(log);
	free(log);
}

/* Packs q's pairs; values are cut at an embedded NUL (such calls are answered FAILED). */
static char *
params_pack(const struct query *q)
{
	size_t size = 1;
	char *block, *p;

	for (size_t i = 0; i < q->n; i++)
		size += strlen(q->p[i].key) + strlen(q->p[i].value) + 2;
	block = malloc(size);
	if (block == NULL)
		return NULL;
	p = block;
	for (size_t i = 0; i < q->n; i++) {
		p = stpcpy(p, q->p[i].key) + 1;
		p = stpcpy(p, q->p[i].value) + 1;
	}
	return block;
}

/* "peer\0agent\0" of q; NULL when out of memory. */
static char *
from_pack(const struct query *q)
{
	const char *peer = q->peer ? q->peer : "", *agent = q->agent ? q->agent : "";
	size_t lp = strlen(peer) + 1, la = strlen(agent) + 1;
	char *block = malloc(lp + la);

	if (block != NULL) {
		memcpy(block, peer, lp);
		memcpy(block + lp, agent, la);
	}
	return block;
}

/* The slot the next entry goes to, growing the ring until it reaches max. */
static struct call *
slot_next(struct calllog *log)
{
	struct call *c;

	if (log->count == log->max) {
		c = &log->ring[log->head];
		log->head = (log->head + 1) % log->max;
		call_free(c);
		return c;
	}
	if (log->count == log->alloc) {
		size_t n = log->alloc ? log->alloc * 2 : 1024;
		struct call *grown;

		if (n > log->max)
			n = log->max;
		grown = realloc(log->ring, n * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		log->ring = grown;
		log->alloc = n;
	}
	c = &log->ring[log->count++];
	memset(c, 0, sizeof(*c));
	return c;
}

unsigned long
calllog_add(struct calllog *log, enum endpoint ep, const struct query *q, enum fault_kind fault,
	    enum call_status status, const char *reason)
{
	struct call *c;

	log->seq++;
	log->by_endpoint[ep]++;
	log->by_fault[fault]++;
	log->by_status[status]++;
	c = slot_next(log);
	if (c == NULL)
		return 0;
	c->seq = log->seq;
	c->at_ms = clock_now_ms();
	c->ep = (unsigned char)ep;
	c->fault = (unsigned char)fault;
	c->status = (unsigned char)status;
	c->nparams = (unsigned char)q->n;
	c->params = params_pack(q);
	c->reason = reason != NULL && *reason != '\0' ? strdup(reason) : NULL;
	c->from = from_pack(q);
	return log->seq;
}

/* A JSON string for text that may not be UTF-8: non-ASCII bytes become '?' if it is not. */
static json_t *
json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

/* A key given twice becomes an array of its values, so that nothing received is hidden. */
static void
param_set(json_t *params, const char *key, json_t *value)
{
	json_t *old = json_object_get(params, key);

	if (old == NULL) {
		json_object_set_new(params, key, value);
	} else if (json_is_array(old)) {
		json_array_append_new(old, value);
	} else {
		json_t *both = json_array();

		json_array_append(both, old);
		json_array_append_new(both, value);
		json_object_set_new(params, key, both);
	}
}

static json_t *
call_json(const struct call *c)
{
	json_t *params = json_object();
	const char *p = c->params;
	const char *peer = c->from ? c->from : "", *agent = c->from ? peer + strlen(peer) + 1 : "";

	for (unsigned i = 0; p != NULL && i < c->nparams; i++) {
		const char *key = p, *value = p + strlen(p) + 1;
		json_t *k = json_text(key);

		if (k != NULL)
			param_set(params, json_string_value(k), json_text(value));
		json_decref(k);
		p = value + strlen(value) + 1;
	}
	return json_pack("{s:I, s:I, s:s, s:o, s:s, s:s, s:o, s:s, s:o}", "seq", (json_int_t)c->seq,
			 "at_ms", (json_int_t)c->at_ms, "endpoint", endpoint_name(c->ep), "params",
			 params, "fault", fault_kind_name(c->fault), "status",
			 call_status_name(c->status), "reason",
			 c->reason ? json_text(c->reason) : json_string(""), "peer", peer, "agent",
			 json_text(agent));
}

json_t *
calllog_dump(const struct calllog *log, unsigned long since, int ep)
{
	json_t *calls = json_array();

	if (calls == NULL)
		return NULL;
	for (size_t i = 0; i < log->count; i++) {
		const struct call *c = &log->ring[(log->head + i) % log->count];

		if (c->seq <= since || (ep >= 0 && c->ep != ep))
			continue;
		if (json_array_append_new(calls, call_json(c)) != 0) {
			json_decref(calls);
			return NULL;
		}
	}
	return json_pack("{s:o}", "calls", calls);
}

json_t *
calllog_stats(const struct calllog *log)
{
	json_t *eps = json_object(), *faults = json_object(), *statuses = json_object();

	for (int i = 0; i < EP_COUNT; i++)
		json_object_set_new(eps, endpoint_name(i),
				    json_integer((json_int_t)log->by_endpoint[i]));
	for (int i = 0; i < FAULT_KINDS; i++)
		json_object_set_new(faults, fault_kind_name(i),
				    json_integer((json_int_t)log->by_fault[i]));
	for (int i = 1; i < STATUSES; i++)
		json_object_set_new(statuses, status_names[i],
				    json_integer((json_int_t)log->by_status[i]));
	return json_pack("{s:I, s:o, s:o, s:o, s:I, s:I}", "total", (json_int_t)log->seq,
			 "by_endpoint", eps, "by_fault", faults, "by_status", statuses, "logged",
			 (json_int_t)log->count, "log_dropped",
			 (json_int_t)(log->seq - log->count));
}
