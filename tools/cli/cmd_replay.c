/* cmd_replay: `tmprov replay`: re-sends commands that ended failed-retryable or with an unknown
 * outcome — from the database (their kept message) or from the DLQ (its byte-for-byte copy) —
 * under a new id ROOT.rN carrying the extension attribute replayof=ROOT, so one id still means
 * one outcome. A command already replayed is skipped in favour of its latest replay. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cekafka.h"
#include "cfgkeys.h"
#include "cli.h"
#include "clicfg.h"
#include "dlqdef.h"
#include "clisql.h"
#include "idmap.h"
#include "kafka.h"
#include "ktopic.h"
#include "replayid.h"
#include "sender.h"
#include "validate.h"

static const char REPLAY_USAGE[] =
    "usage: tmprov replay [--from db|dlq] (--id ID... | --subject S | --since T | --until T\n"
    "                     | --all) [--reason R,...] [--limit N] [--dry-run]\n"
    "                     [--wait [--timeout D]] [--config FILE] [--print-config]\n"
    "\n"
    "Re-sends commands that did not take effect but may: those that failed with retryable\n"
    "true (the retry budget ran out while TM was failing) and those parked with an unknown\n"
    "outcome (an ambiguous create_account: check TM for an orphan account first). Each is\n"
    "sent to TMPROV_TOPIC_COMMANDS under a new id, ROOT.rN (ROOT the id first sent, N the\n"
    "replay's number), with the CloudEvents extension attribute replayof=ROOT; the rest of\n"
    "the message is unchanged. A command that was replayed already is skipped: its latest\n"
    "replay is the one to look at (and to replay, if it failed too).\n"
    "\n"
    "  --from db       commands whose status in the database is failed (retryable) or\n"
    "                  unknown_outcome (the default); selected by their last change\n"
    "  --from dlq      copies on TMPROV_TOPIC_DLQ whose reason is one of --reason (default\n"
    "                  outcome_unknown,retry_budget_exhausted); selected by their timestamp\n"
    "  --id ID         this command (may be repeated)\n"
    "  --subject S     the commands of this customer\n"
    "  --since T       changed at or after T: RFC 3339 (2026-11-28T10:00:00Z), a date\n"
    "                  (2026-11-28) or a duration ago (30m, 2h, 7d)\n"
    "  --until T       changed before T\n"
    "  --all           every candidate (required when nothing else selects)\n"
    "  --reason R,...  DLQ reasons to take (id_conflict, invalid, ... are allowed too)\n"
    "  --limit N       at most N commands (default 10000)\n"
    "  --dry-run       list what would be re-sent and under which id; send nothing\n"
    "  --wait          follow TMPROV_TOPIC_EVENTS until every replay has its outcome\n"
    "  --timeout D     stop waiting after D (default 5m)\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Needs the database in both cases (to number replays and skip those done). Exit status:\n"
    "0 done (also when nothing matched), 1 a command asked for by --id could not be replayed,\n"
    "a send failed or (--wait) a replay did not succeed, 2 usage error.\n";

#define REPLAY_IDS_MAX	  256
#define REPLAY_DLQ_MS	  30000 /* reading the whole DLQ */
#define REPLAY_DEFAULT_RS "outcome_unknown,retry_budget_exhausted"

struct replay_opts {
	bool from_dlq, all, dry_run, wait;
	const char *ids[REPLAY_IDS_MAX];
	size_t nids;
	const char *subject, *reasons;
	bool has_since, has_until;
	long long since, until;
	long limit, timeout_ms;
};

/* One command to re-send. */
struct cand {
	char *id, *subject, *type, *why, *body;
	size_t len;
};

struct replay {
	const struct replay_opts *o;
	struct db *db;
	struct idmap *cands; /* id -> struct cand */
	char **order;	     /* ids in the order found */
	size_t n, cap;
	long errors;
};

static int
replay_flags(const char *name, int argc, char **argv, void *opts)
{
	struct replay_opts *o = opts;
	static const struct option longopts[] = {
	    {"from", required_argument, NULL, 'f'},    {"id", required_argument, NULL, 'i'},
	    {"subject", required_argument, NULL, 's'}, {"since", required_argument, NULL, 'S'},
	    {"until", required_argument, NULL, 'U'},   {"all", no_argument, NULL, 'a'},
	    {"reason", required_argument, NULL, 'r'},  {"limit", required_argument, NULL, 'l'},
	    {"dry-run", no_argument, NULL, 'n'},       {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
	};
	char *end;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "db") != 0 && strcmp(optarg, "dlq") != 0)
				return clicfg_usage(name, "--from: db or dlq, not %s", optarg);
			o->from_dlq = strcmp(optarg, "dlq") == 0;
			break;
		case 'i':
			if (o->nids == REPLAY_IDS_MAX)
				return clicfg_usage(name, "more than %d --id", REPLAY_IDS_MAX);
			o->ids[o->nids++] = optarg;
			break;
		case 's':
			o->subject = optarg;
			break;
		case 'S':
		case 'U':
			if (clicfg_parse_time(optarg, ch == 'S' ? &o->since : &o->until) != 0)
				return clicfg_usage(name, "%s: %s is not a time", argv[optind - 1],
						    optarg);
			*(ch == 'S' ? &o->has_since : &o->has_until) = true;
			break;
		case 'a':
			o->all = true;
			break;
		case 'r':
			o->reasons = optarg;
			break;
		case 'l':
			o->limit = strtol(optarg, &end, 10);
			if (*end != '\0' || o->limit < 1 || o->limit > 1000000)
				return clicfg_usage(name, "--limit: %s is not from 1 to 1000000",
						    optarg);
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'w':
			o->wait = true;
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
	if (optind < argc)
		return clicfg_usage(name, "unexpected argument %s", argv[optind]);
	if (!o->all && o->nids == 0 && !o->subject && !o->has_since && !o->has_until)
		return clicfg_usage(name, "say what to replay: --id, --subject, --since, --until, "
					  "or --all");
	if (o->reasons != NULL && !o->from_dlq)
		return clicfg_usage(name, "--reason goes with --from dlq");
	if (o->reasons == NULL)
		o->reasons = REPLAY_DEFAULT_RS;
	return CLI_OK;
}

static void
cand_free(void *p)
{
	struct cand *c = p;

	if (c == NULL)
		return;
	free(c->id);
	free(c->subject);
	free(c->type);
	free(c->why);
	free(c->body);
	free(c);
}

/* Adds a candidate (the strings are copied); a later copy of the same id replaces the body.
 * 0, or -1 when out of memory. */
static int
replay_add(struct replay *r, const char *id, const char *subject, const char *type, const char *why,
	   const char *body, size_t len)
{
	struct cand *c = idmap_get(r->cands, id);
	char *b = malloc(len + 1);

	if (b == NULL)
		return -1;
	memcpy(b, body, len);
	b[len] = '\0';
	if (c != NULL) {
		free(c->body);
		c->body = b;
		c->len = len;
		return 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		char **o = realloc(r->order, cap * sizeof(*o));

		if (o == NULL)
			goto fail;
		r->order = o;
		r->cap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || !(c->id = strdup(id)) || !(c->subject = strdup(subject)) ||
	    !(c->type = strdup(type)) || !(c->why = strdup(why)))
		goto fail;
	c->body = b;
	c->len = len;
	if (idmap_put(r->cands, id, c) != 0)
		goto fail;
	r->order[r->n++] = c->id;
	return 0;
fail:
	if (c != NULL)
		c->body = NULL;
	cand_free(c);
	free(b);
	return -1;
}

static bool
replay_selected_id(const struct replay_opts *o, const char *id)
{
	if (o->nids == 0)
		return true;
	for (size_t i = 0; i < o->nids; i++)
		if (strcmp(o->ids[i], id) == 0)
			return true;
	return false;
}

/* The failed-retryable and unknown-outcome commands of the database. */
static int
replay_from_db(struct replay *r)
{
	const struct replay_opts *o = r->o;
	char since[24], until[24], limit[24], err[512], *ids = NULL;
	const char *params[5];
	json_t *arr = json_array();
	PGresult *res;

	for (size_t i = 0; i < o->nids; i++)
		json_array_append_new(arr, json_string(o->ids[i]));
	ids = o->nids ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	snprintf(since, sizeof(since), "%lld", o->since);
	snprintf(until, sizeof(until), "%lld", o->until);
	snprintf(limit, sizeof(limit), "%ld", o->limit);
	params[0] = ids;
	params[1] = o->subject;
	params[2] = o->has_since ? since : NULL;
	params[3] = o->has_until ? until : NULL;
	params[4] = limit;
	res = db_exec(r->db, CLISQL_REPLAYABLE, 5, params, err, sizeof(err));
	free(ids);
	if (res == NULL) {
		fprintf(stderr, "tmprov replay: %s\n", err);
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		char why[1200];

		snprintf(why, sizeof(why), "%s %s: %s", PQgetvalue(res, i, 3),
			 PQgetvalue(res, i, 5), PQgetvalue(res, i, 4));
		if (PQgetisnull(res, i, 6)) {
			fprintf(stderr,
				"skip    %s: its message was not kept (processed before migration "
				"002); tmprov replay --from dlq --id %s\n",
				PQgetvalue(res, i, 0), PQgetvalue(res, i, 0));
			r->errors++;
			continue;
		}
		if (replay_add(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			       PQgetvalue(res, i, 2), why, PQgetvalue(res, i, 6),
			       (size_t)PQgetlength(res, i, 6)) != 0) {
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	return 0;
}

static bool
replay_reason_ok(const char *list, const char *reason)
{
	size_t n = strlen(reason);

	for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, reason, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* The command a DLQ copy holds, as structured text: the value, or for a copy of a binary-mode
 * message the event its ce_* headers and value make (cekafka.h); *owned is that text, to free.
 * VALIDATE_OK with *cmd parsed, or the verdict. */
static enum validate_status
replay_dlq_command(const rd_kafka_message_t *m, struct command **cmd, const char **text,
		   size_t *len, char **owned)
{
	rd_kafka_headers_t *h = NULL;
	enum validate_status st;
	bool binary;

	*cmd = NULL;
	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		h = NULL;
	st = cekafka_text(h, m->payload, m->len, owned, len, &binary, NULL);
	*text = *owned ? *owned : m->payload;
	if (*owned == NULL)
		*len = m->len;
	if (st != VALIDATE_OK)
		return st;
	return command_parse(*text, *len, cmd, NULL);
}

/* One DLQ copy: taken when its reason, time, id and subject are selected. */
static int
replay_dlq_message(struct replay *r, const rd_kafka_message_t *m)
{
	const struct replay_opts *o = r->o;
	const char *reason = kafka_header(m, DLQ_HDR_REASON, NULL), *error, *text;
	rd_kafka_timestamp_type_t tt;
	long long ts = rd_kafka_message_timestamp(m, &tt);
	struct command *cmd = NULL;
	char why[1200], *owned = NULL;
	size_t len;
	int rc = 0;

	if (reason == NULL || !replay_reason_ok(o->reasons, reason) || m->payload == NULL ||
	    (o->has_since && ts < o->since) || (o->has_until && ts >= o->until))
		return 0;
	if (replay_dlq_command(m, &cmd, &text, &len, &owned) != VALIDATE_OK) {
		if (cmd != NULL && replay_selected_id(o, cmd->id) &&
		    (!o->subject || strcmp(o->subject, cmd->subject) == 0)) {
			fprintf(stderr,
				"skip    %s: DLQ offset %" PRId64 " (%s) is not a valid "
				"command: replaying it would be rejected again\n",
				cmd->id, m->offset, reason);
			r->errors++;
		}
		goto out;
	}
	error = kafka_header(m, DLQ_HDR_ERROR, NULL);
	snprintf(why, sizeof(why), "dlq %s%s%s", reason, error && *error ? ": " : "",
		 error ? error : "");
	if (replay_selected_id(o, cmd->id) &&
	    (!o->subject || strcmp(o->subject, cmd->subject) == 0))
		rc = replay_add(r, cmd->id, cmd->subject, cmd->type, why, text, len);
out:
	command_free(cmd);
	free(owned);
	return rc;
}

/* The DLQ from its beginning to its end as of now. */
static int
replay_from_dlq(struct replay *r, const struct cfg *c)
{
	char err[512];
	struct ktopic *k = ktopic_new(c, err, sizeof(err));
	int rc = -1;
	long waited = 0;

	if (k == NULL ||
	    ktopic_add(k, cfg_str(c, &KEY_TMPROV_TOPIC_DLQ), KTOPIC_BEGINNING, err, sizeof(err)) !=
		0 ||
	    ktopic_start(k, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov replay: %s\n", err);
		goto out;
	}
	while (!ktopic_caught_up(k) && !clicfg_stop && waited < REPLAY_DLQ_MS) {
		rd_kafka_message_t *m = ktopic_poll(k, 100);

		if (m == NULL) {
			waited += 100;
			continue;
		}
		waited = 0;
		if (replay_dlq_message(r, m) != 0) {
			rd_kafka_message_destroy(m);
			fprintf(stderr, "tmprov replay: out of memory\n");
			goto out;
		}
		rd_kafka_message_destroy(m);
	}
	if (!ktopic_caught_up(k)) {
		fprintf(stderr, "tmprov replay: could not read %s to its end\n",
			cfg_str(c, &KEY_TMPROV_TOPIC_DLQ));
		goto out;
	}
	rc = 0;
out:
	ktopic_free(k);
	return rc;
}

/* An --id that did not become a candidate: say why. */
static void
replay_explain_missing(struct replay *r)
{
	const char *params[1];
	char err[512];

	for (size_t i = 0; i < r->o->nids; i++) {
		PGresult *res;

		if (idmap_get(r->cands, r->o->ids[i]) != NULL)
			continue;
		r->errors++;
		params[0] = r->o->ids[i];
		res = db_exec(r->db, CLISQL_STATUS_OF, 1, params, err, sizeof(err));
		if (res != NULL && PQntuples(res) == 1 && !r->o->from_dlq)
			fprintf(stderr,
				"skip    %s: its status is %s, not failed (retryable) or "
				"unknown_outcome%s\n",
				r->o->ids[i], PQgetvalue(res, 0, 0),
				r->o->subject || r->o->has_since || r->o->has_until
				    ? ", or outside --subject/--since/--until"
				    : "");
		else if (r->o->from_dlq)
			fprintf(stderr, "skip    %s: no selected copy of it on the DLQ\n",
				r->o->ids[i]);
		else
			fprintf(stderr, "skip    %s: no such command in the database\n",
				r->o->ids[i]);
		PQclear(res);
	}
}

/* The id to replay c under, or "" when c must be skipped (said why). */
static void
replay_new_id(struct replay *r, const struct cand *c, const char *root, char *out, size_t outlen)
{
	char err[512], latest[REPLAYID_MAX + 1], lstatus[32];
	const char *params[1];
	long self = replayid_index(root, c->id), max;
	PGresult *res;

	out[0] = '\0';
	self = self < 0 ? 0 : self;
	max = replayid_latest(r->db, root, latest, sizeof(latest), lstatus, sizeof(lstatus), err,
			      sizeof(err));
	if (max < 0) {
		fprintf(stderr, "tmprov replay: %s\n", err);
		r->errors++;
		return;
	}
	if (max > self) {
		printf("skip    %s: replayed already as %s (%s)\n", c->id, latest, lstatus);
		return;
	}
	if (r->o->from_dlq) {
		params[0] = c->id;
		res = db_exec(r->db, CLISQL_STATUS_OF, 1, params, err, sizeof(err));
		if (res != NULL && PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 0), "succeeded") == 0) {
			printf("skip    %s: succeeded since\n", c->id);
			PQclear(res);
			return;
		}
		PQclear(res);
	}
	replayid_make(root, self + 1, out, outlen);
}

/* The message under its new id with replayof; NULL (said why) when it cannot be built. */
static char *
replay_body(const struct cand *c, const char *new_id, const char *root)
{
	char *text = replayid_body(c->body, c->len, new_id, root);

	if (text == NULL)
		fprintf(stderr, "skip    %s: its message cannot be re-sent as a valid command\n",
			c->id);
	return text;
}

/* Sends (or lists) every candidate. */
static int
replay_send(struct replay *r, struct sender *snd)
{
	long sent = 0, skipped = 0;
	char err[512];

	for (size_t i = 0; i < r->n; i++) {
		const struct cand *c = idmap_get(r->cands, r->order[i]);
		char root[REPLAYID_MAX + 1], new_id[REPLAYID_MAX + 1], *body;
		json_t *doc = json_loadb(c->body, c->len, 0, NULL);
		const char *of = json_string_value(json_object_get(doc, "replayof"));

		/* A replay of a replay counts from the same root. */
		snprintf(root, sizeof(root), "%s", of && strlen(of) <= REPLAYID_MAX ? of : c->id);
		json_decref(doc);
		replay_new_id(r, c, root, new_id, sizeof(new_id));
		if (new_id[0] == '\0') {
			skipped++;
			continue;
		}
		body = replay_body(c, new_id, root);
		if (body == NULL) {
			r->errors++;
			continue;
		}
		printf("%s %s -> %s  %s %s  (%s)\n", r->o->dry_run ? "would replay" : "replay ",
		       c->id, new_id, c->type, c->subject, c->why);
		if (snd != NULL && sender_add(snd, new_id, c->subject, body, strlen(body), c->id,
					      err, sizeof(err)) != 0) {
			fprintf(stderr, "tmprov replay: %s: %s\n", c->id, err);
			r->errors++;
		} else {
			sent++;
		}
		free(body);
	}
	printf("%ld to replay, %ld skipped%s\n", sent, skipped,
	       r->o->dry_run ? "; dry run: nothing sent" : "");
	return 0;
}

static int
replay_run(const char *name, const struct cfg *cfg, struct db *db, void *opts)
{
	const struct replay_opts *o = opts;
	struct replay r = {.o = o, .db = db};
	struct sender *snd = NULL;
	char err[512];
	int rc = CLI_FAIL;

	r.cands = idmap_new();
	if (r.cands == NULL) {
		fprintf(stderr, "%s: out of memory\n", name);
		goto out;
	}
	if ((o->from_dlq ? replay_from_dlq(&r, cfg) : replay_from_db(&r)) != 0)
		goto out;
	replay_explain_missing(&r);
	if (r.n == 0) {
		printf("nothing to replay\n");
		rc = r.errors ? CLI_FAIL : CLI_OK;
		goto out;
	}
	if (!o->dry_run && (snd = sender_new(cfg, o->wait, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", name, err);
		goto out;
	}
	replay_send(&r, snd);
	rc = (snd == NULL || sender_finish(snd, o->timeout_ms, stdout)) && r.errors == 0 ? CLI_OK
											 : CLI_FAIL;
out:
	sender_free(snd);
	idmap_free(r.cands, cand_free);
	free(r.order);
	return rc;
}

int
cmd_replay(int argc, char **argv)
{
	static const struct clicmd cmd = {
	    .name = "tmprov replay",
	    .usage = REPLAY_USAGE,
	    .table = CLICFG_OPERATOR,
	    .catch_signals = true,
	    .flags = replay_flags,
	    .run = replay_run,
	};
	struct replay_opts o = {.limit = 10000, .timeout_ms = 300000};

	return clicmd_main(&cmd, &o, argc, argv);
}
