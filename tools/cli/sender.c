/* sender: one item per queued message, allocated on its own so that the delivery report
 * librdkafka fills (struct kafka_delivery) stays where it was given. */
#include "sender.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfgkeys.h"
#include "cli.h"
#include "clicfg.h"
#include "kafka.h"
#include "waiter.h"

#define SENDER_FLUSH_MS 60000

struct item {
	char *id, *label;
	struct kafka_delivery d;
};

struct sender {
	const struct cfg *cfg;
	rd_kafka_t *p;
	char *topic;
	struct waiter *w;
	struct item **items;
	size_t n, cap;
	bool binary;
};

/* The content type of a structured-mode CloudEvent (CloudEvents Kafka protocol binding). */
#define CE_STRUCTURED "application/cloudevents+json"

struct sender *
sender_new(const struct cfg *c, bool wait, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->topic = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_COMMANDS))) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->cfg = c;
	if (wait && (s->w = waiter_new(c, err, errlen)) == NULL)
		goto fail;
	s->p = kafka_producer_new(c, err, errlen);
	if (s->p == NULL)
		goto fail;
	return s;
fail:
	sender_free(s);
	return NULL;
}

void
sender_free(struct sender *s)
{
	if (s == NULL)
		return;
	/* The producer goes first: it may still report on items until destroyed. */
	if (s->p != NULL) {
		rd_kafka_purge(s->p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(s->p, 0);
		rd_kafka_destroy(s->p);
	}
	waiter_free(s->w);
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i]->id);
		free(s->items[i]->label);
		free(s->items[i]);
	}
	free(s->items);
	free(s->topic);
	free(s);
}

void
sender_binary(struct sender *s)
{
	s->binary = true;
}

/* The header of attribute name of value v: ce_NAME, or content-type for datacontenttype; a
 * number or boolean as its JSON text. 0, or -1 when v is not a scalar or out of memory. */
static int
sender_ce_header(rd_kafka_headers_t *h, const char *name, const json_t *v)
{
	char hname[64], *text = NULL;
	int rc;

	if (strcmp(name, "datacontenttype") == 0)
		snprintf(hname, sizeof(hname), "content-type");
	else if (snprintf(hname, sizeof(hname), "ce_%s", name) >= (int)sizeof(hname))
		return -1;
	if (json_is_string(v))
		return rd_kafka_header_add(h, hname, -1, json_string_value(v),
					   (ssize_t)json_string_length(v))
			   ? -1
			   : 0;
	if (!json_is_number(v) && !json_is_boolean(v))
		return -1;
	text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	rc = text && rd_kafka_header_add(h, hname, -1, text, -1) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0
											       : -1;
	free(text);
	return rc;
}

/* body (a structured event, checked by the caller) in binary mode: *h its attributes as
 * headers, *value its data (malloc'd; NULL when it has none). 0, or -1 with err. */
static int
sender_to_binary(const char *body, size_t len, rd_kafka_headers_t **h, char **value, char *err,
		 size_t errlen)
{
	json_t *ev = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *name;
	int rc = -1;

	*value = NULL;
	*h = rd_kafka_headers_new(8);
	if (ev == NULL || *h == NULL) {
		snprintf(err, errlen, "binary mode: not a JSON object, or out of memory");
		goto out;
	}
	json_object_foreach(ev, name, v)
	{
		if (strcmp(name, "data") == 0)
			continue;
		if (sender_ce_header(*h, name, v) != 0) {
			snprintf(err, errlen, "binary mode: attribute %s cannot be a header", name);
			goto out;
		}
	}
	v = json_object_get(ev, "data");
	if (v != NULL && !json_is_null(v) &&
	    (*value = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && *h != NULL) {
		rd_kafka_headers_destroy(*h);
		*h = NULL;
	}
	json_decref(ev);
	return rc;
}

/* The message of one command: its value and headers (both modes say which they are). */
static int
sender_message(const struct sender *s, const char *body, size_t len, rd_kafka_headers_t **h,
	       char **value, char *err, size_t errlen)
{
	if (s->binary)
		return sender_to_binary(body, len, h, value, err, errlen);
	*value = NULL;
	*h = rd_kafka_headers_new(1);
	if (*h == NULL || rd_kafka_header_add(*h, "content-type", -1, CE_STRUCTURED, -1) !=
			      RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
sender_add(struct sender *s, const char *id, const char *subject, const char *body, size_t len,
	   const char *label, char *err, size_t errlen)
{
	rd_kafka_headers_t *hdrs = NULL;
	char *value = NULL;
	struct item *it;
	int rc = -1;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct item **a = realloc(s->items, cap * sizeof(*a));

		if (a == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		s->items = a;
		s->cap = cap;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL || (it->id = strdup(id)) == NULL || (it->label = strdup(label)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sender_message(s, body, len, &hdrs, &value, err, errlen) != 0)
		goto out;
	/* kafka_produce takes the headers whatever happens. */
	if (kafka_produce(s->p, s->topic, subject, strlen(subject), s->binary ? value : body,
			  s->binary ? (value ? strlen(value) : 0) : len, hdrs, &it->d, err,
			  errlen) != 0) {
		hdrs = NULL;
		goto out;
	}
	hdrs = NULL;
	s->items[s->n++] = it;
	it = NULL;
	rd_kafka_poll(s->p, 0);
	rc = 0;
out:
	if (hdrs != NULL)
		rd_kafka_headers_destroy(hdrs);
	if (it != NULL) {
		free(it->id);
		free(it->label);
		free(it);
	}
	free(value);
	return rc;
}

bool
sender_finish(struct sender *s, long timeout_ms, FILE *out)
{
	size_t failed = 0;
	char err[512];
	bool ok;

	if (kafka_flush(s->p, SENDER_FLUSH_MS, err, sizeof(err)) != 0)
		fprintf(stderr, "tmprov: %s\n", err);
	for (size_t i = 0; i < s->n; i++) {
		const struct item *it = s->items[i];

		if (it->d.done && it->d.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (s->w != NULL && waiter_expect(s->w, it->id, it->label) != 0) {
				fprintf(stderr, "tmprov: out of memory\n");
				return false;
			}
			continue;
		}
		failed++;
		fprintf(stderr, "%s: %s: not delivered: %s\n", it->label, it->id,
			it->d.done ? rd_kafka_err2str(it->d.err) : "no delivery report in time");
	}
	fprintf(out, "sent %zu command%s to %s", s->n - failed, s->n - failed == 1 ? "" : "s",
		s->topic);
	if (failed)
		fprintf(out, " (%zu not delivered)", failed);
	fprintf(out, "\n");
	fflush(out);
	ok = failed == 0;
	if (s->w == NULL)
		return ok;
	waiter_run(s->w, timeout_ms);
	return waiter_summary(s->w, out) && ok;
}

int
sender_flags(const char *name, int argc, char **argv, const char *file_usage, struct sender_opts *o)
{
	static const struct option longopts[] = {
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"binary", no_argument, NULL, 'b'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			o->wait = true;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'b':
			if (!o->binary_ok)
				return clicfg_usage(name, "unknown option %s", argv[optind - 1]);
			o->binary = true;
			break;
		case 't':
			if (clicfg_timeout(name, optarg, &o->timeout_ms) != 0)
				return CLI_USAGE;
			break;
		case ':':
			return clicfg_usage(name, "%s needs a value", argv[optind - 1]);
		default:
			return clicfg_usage(name, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return clicfg_usage(name, "expected %s", file_usage);
	o->file = argv[optind];
	return CLI_OK;
}
