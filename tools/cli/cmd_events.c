/* cmd_events: `tmprov events`: the outcome events on TMPROV_TOPIC_EVENTS (or the copies on
 * TMPROV_TOPIC_DLQ) one readable line each, or raw with --json; --follow keeps reading. Reads
 * without a consumer group, so it never takes messages from anyone. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfgkeys.h"
#include "cli.h"
#include "clicfg.h"
#include "dlqdef.h"
#include "evfmt.h"
#include "kafka.h"
#include "ktopic.h"

static const char EVENTS_USAGE[] =
    "usage: tmprov events [--follow] [--from-end] [--json] [--dlq] [--subject S] [--type T]\n"
    "                     [--id ID] [--config FILE] [--print-config]\n"
    "\n"
    "Prints the outcome events of TMPROV_TOPIC_EVENTS, one line each: time, type, subject,\n"
    "the command's id (commandid) and what happened, from the beginning of the topic to its\n"
    "end, then exits. With --dlq, the copies on TMPROV_TOPIC_DLQ instead: time, reason,\n"
    "where the message was read, its key, id and type, and the first error.\n"
    "\n"
    "  --follow        keep printing new messages until interrupted (Ctrl-C)\n"
    "  --from-end      start at the end: only messages that arrive from now (with --follow)\n"
    "  --json          each event as its raw JSON (with --dlq: an object with the timestamp,\n"
    "                  key, headers and value)\n"
    "  --dlq           read the DLQ instead of the events\n"
    "  --subject S     only this customer's\n"
    "  --type T        only events of type T (with --dlq: copies with reason T)\n"
    "  --id ID         only the outcome of command ID (with --dlq: copies of command ID)\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 done, 1 Kafka could not be read, 2 usage error.\n";

#define EVENTS_READ_MS 30000 /* without --follow: longest silence before giving up */

struct events_opts {
	bool follow, from_end, json, dlq;
	const char *subject, *type, *id;
};

static int
events_flags(const char *name, int argc, char **argv, struct events_opts *o)
{
	static const struct option longopts[] = {
	    {"follow", no_argument, NULL, 'f'},	       {"from-end", no_argument, NULL, 'e'},
	    {"json", no_argument, NULL, 'j'},	       {"dlq", no_argument, NULL, 'd'},
	    {"subject", required_argument, NULL, 's'}, {"type", required_argument, NULL, 't'},
	    {"id", required_argument, NULL, 'i'},      {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->follow = true;
			break;
		case 'e':
			o->from_end = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'd':
			o->dlq = true;
			break;
		case 's':
			o->subject = optarg;
			break;
		case 't':
			o->type = optarg;
			break;
		case 'i':
			o->id = optarg;
			break;
		case ':':
			return clicfg_usage(name, "%s needs a value", argv[optind - 1]);
		default:
			return clicfg_usage(name, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return clicfg_usage(name, "unexpected argument %s", argv[optind]);
	if (o->from_end && !o->follow)
		return clicfg_usage(name, "--from-end goes with --follow");
	return CLI_OK;
}

static bool
events_match(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static void
events_dlq_json(const rd_kafka_message_t *m)
{
	json_t *o = json_object(), *hdrs = json_object();
	rd_kafka_headers_t *h = NULL;
	const char *name;
	const void *val;
	size_t len;
	char when[40], *text;

	evfmt_kafka_time(m, when, sizeof(when));
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (size_t i = 0;
		     rd_kafka_header_get_all(h, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
		     i++)
			json_object_set_new(hdrs, name, val ? json_stringn(val, len) : json_null());
	json_object_set_new(o, "timestamp", json_string(when));
	json_object_set_new(o, "partition", json_integer(m->partition));
	json_object_set_new(o, "offset", json_integer(m->offset));
	json_object_set_new(o, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
	json_object_set_new(o, "headers", hdrs);
	json_object_set_new(o, "value",
			    m->payload ? json_stringn(m->payload, m->len) : json_null());
	text = json_dumps(o, JSON_COMPACT);
	if (text != NULL)
		puts(text);
	free(text);
	json_decref(o);
}

static void
events_dlq(const struct events_opts *o, const rd_kafka_message_t *m)
{
	json_t *doc = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
	char line[4096];

	if (events_match(o->type, kafka_header(m, DLQ_HDR_REASON, NULL)) &&
	    events_match(o->id, json_string_value(json_object_get(doc, "id"))) &&
	    events_match(o->subject, json_string_value(json_object_get(doc, "subject")))) {
		if (o->json) {
			events_dlq_json(m);
		} else {
			evfmt_dlq(m, line, sizeof(line));
			puts(line);
		}
	}
	json_decref(doc);
}

static void
events_event(const struct events_opts *o, const rd_kafka_message_t *m)
{
	json_t *ev = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
	char line[4096];

	if (ev == NULL) {
		printf("- (offset %" PRId64 " of partition %d is not JSON)\n", m->offset,
		       (int)m->partition);
		return;
	}
	if (events_match(o->type, json_string_value(json_object_get(ev, "type"))) &&
	    events_match(o->id, json_string_value(json_object_get(ev, "commandid"))) &&
	    events_match(o->subject, json_string_value(json_object_get(ev, "subject")))) {
		if (o->json) {
			fwrite(m->payload, 1, m->len, stdout);
			putchar('\n');
		} else {
			evfmt_event(ev, line, sizeof(line));
			puts(line);
		}
	}
	json_decref(ev);
}

static int
events_read(const struct cfg *c, const struct events_opts *o)
{
	const char *topic = cfg_str(c, o->dlq ? &KEY_TMPROV_TOPIC_DLQ : &KEY_TMPROV_TOPIC_EVENTS);
	char err[512];
	struct ktopic *k = ktopic_new(c, err, sizeof(err));
	long quiet = 0;
	int rc = CLI_FAIL;

	if (k == NULL ||
	    ktopic_add(k, topic, o->from_end ? KTOPIC_END : KTOPIC_BEGINNING, err, sizeof(err)) ||
	    ktopic_start(k, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov events: %s\n", err);
		goto out;
	}
	if (o->follow) {
		fprintf(stderr, "following %s from %s (Ctrl-C stops)\n", topic,
			o->from_end ? "its end" : "its beginning");
		fflush(stderr);
	}
	while (!clicfg_stop && (o->follow || !ktopic_caught_up(k))) {
		rd_kafka_message_t *m = ktopic_poll(k, 200);

		if (m == NULL) {
			quiet += 200;
			if (!o->follow && quiet >= EVENTS_READ_MS) {
				fprintf(stderr, "tmprov events: %s: no progress for %d s\n", topic,
					EVENTS_READ_MS / 1000);
				goto out;
			}
			continue;
		}
		quiet = 0;
		if (o->dlq)
			events_dlq(o, m);
		else
			events_event(o, m);
		rd_kafka_message_destroy(m);
		fflush(stdout);
	}
	rc = CLI_OK;
out:
	ktopic_free(k);
	return rc;
}

int
cmd_events(int argc, char **argv)
{
	static const char name[] = "tmprov events";
	struct events_opts o = {0};
	struct cfg *cfg;
	int rc;

	if (clicfg_wants_help(argc, argv)) {
		fputs(EVENTS_USAGE, stdout);
		return CLI_OK;
	}
	cfg = clicfg_load(name, &argc, argv);
	if (cfg == NULL)
		return CLI_FAIL;
	rc = events_flags(name, argc, argv, &o);
	if (rc == CLI_OK) {
		clicfg_catch_signals();
		rc = events_read(cfg, &o);
	}
	cfg_free(cfg);
	return rc;
}
