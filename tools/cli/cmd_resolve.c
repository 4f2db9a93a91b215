/* cmd_resolve: `tmprov resolve ID --company-uid UID | --not-created`: ends a create parked with an
 * unknown outcome, as the operator found TM: the account exists (adopted, account.created through
 * the outbox in the same transaction) or it does not (the create sent again, as replay sends). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "../../workers/worker/outcome.h"
#include "cli.h"
#include "clicfg.h"
#include "clisql.h"
#include "replayid.h"
#include "sender.h"
#include "tm_client.h"
#include "tmdrift.h"
#include "tmrate.h"

static const char RESOLVE_USAGE[] =
    "usage: tmprov resolve ID (--company-uid UID | --not-created [--wait [--timeout D]])\n"
    "                      [--config FILE] [--print-config]\n"
    "\n"
    "Ends an account.create parked with an unknown outcome (its create_account call may have\n"
    "reached TM; the worker stopped rather than risk a second account). Look for the account\n"
    "in TM's console first, then say what you found:\n"
    "\n"
    "  --company-uid UID  TM has it: our record adopts UID with the create's four values, and\n"
    "                     account.created (data.resolved_by_hand true, data.resolves ID) is\n"
    "                     written to the outbox in the same transaction (with TMPROV_TM_URL\n"
    "                     set, one query_account first confirms that TM knows UID)\n"
    "  --not-created      TM has none: the create is sent again to TMPROV_TOPIC_COMMANDS under\n"
    "                     a new id ROOT.rN with replayof=ROOT, as `tmprov replay` would\n"
    "  --wait             (--not-created) follow TMPROV_TOPIC_EVENTS until it has its outcome\n"
    "  --timeout D        stop waiting after D (default 5m)\n"
    "  --config FILE      KEY=value settings (the environment wins)\n"
    "  --print-config     print the effective settings, secrets masked, and exit\n"
    "  --help-config      print the settings as a table, and exit\n"
    "\n"
    "Either way the resolution gets the id ROOT.rN (the next replay number), and ID is marked\n"
    "resolved: a later replay of ID is skipped. Refused, with nothing changed: an unknown ID,\n"
    "a command that is not an account.create with status unknown_outcome, one resolved or\n"
    "replayed already. Exit status: 0 resolved (with --wait: and the create succeeded),\n"
    "1 refused or failed, 2 usage error.\n";

struct resolve_opts {
	const char *id, *uid;
	bool not_created, wait;
	long timeout_ms;
};

/* What the parked command is and what its resolution will be. */
struct parked {
	char subject[256], root[REPLAYID_MAX + 1], new_id[REPLAYID_MAX + 1], sha[65];
	char *body; /* the resolution's message (new id, replayof) */
	json_t *doc;
	bool resend; /* resolved as not created already, but its re-send never reached a worker */
};

static int
resolve_flags(const char *name, int argc, char **argv, void *opts)
{
	struct resolve_opts *o = opts;
	static const struct option longopts[] = {
	    {"company-uid", required_argument, NULL, 'u'},
	    {"not-created", no_argument, NULL, 'n'},
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o->uid = optarg;
			break;
		case 'n':
			o->not_created = true;
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
	if (optind != argc - 1)
		return clicfg_usage(name, "expected one command ID");
	o->id = argv[optind];
	if ((o->uid != NULL) == o->not_created)
		return clicfg_usage(name, "say what TM holds: --company-uid UID or --not-created");
	/* common.json company_uid: 1 to 36 printable ASCII characters. */
	if (o->uid != NULL &&
	    (strlen(o->uid) < 1 || strlen(o->uid) > 36 ||
	     strspn(o->uid, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQ"
			    "RSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != strlen(o->uid)))
		return clicfg_usage(name, "--company-uid: 1 to 36 printable characters, no spaces");
	if (o->wait && !o->not_created)
		return clicfg_usage(name, "--wait goes with --not-created");
	return CLI_OK;
}

/* Checks that id is a parked create not resolved or replayed yet and works out its resolution
 * (p). A create resolved as not created whose re-send no worker has taken up yet (Kafka was
 * down) may be resolved so again: the same id and bytes are sent, so it takes effect once.
 * 0, or -1 after saying why on stderr. */
static bool
resolve_status_is(struct db *db, const char *id, const char *status)
{
	const char *params[1] = {id};
	char err[512];
	PGresult *res = db_exec(db, CLISQL_STATUS_OF, 1, params, err, sizeof(err));
	bool is = res != NULL && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), status) == 0;

	PQclear(res);
	return is;
}

static int
resolve_check(struct db *db, const char *id, bool not_created, struct parked *p)
{
	const char *params[1] = {id};
	char err[512], latest[REPLAYID_MAX + 1], lstatus[32];
	const char *of;
	PGresult *res = db_exec(db, CLISQL_PARKED, 1, params, err, sizeof(err));
	long self, max;
	int rc = -1;

	if (res == NULL) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		return -1;
	}
	if (PQntuples(res) != 1) {
		fprintf(stderr, "tmprov resolve: no command %s\n", id);
		goto out;
	}
	if (*PQgetvalue(res, 0, 4) != '\0') {
		p->resend = not_created && strcmp(PQgetvalue(res, 0, 4), "not_created") == 0 &&
			    resolve_status_is(db, PQgetvalue(res, 0, 5), "received");
		if (!p->resend) {
			fprintf(stderr, "tmprov resolve: %s is already resolved (%s, as %s)\n", id,
				PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
			goto out;
		}
	}
	if (strcmp(PQgetvalue(res, 0, 1), "account.create") != 0 ||
	    strcmp(PQgetvalue(res, 0, 0), "unknown_outcome") != 0) {
		fprintf(stderr,
			"tmprov resolve: %s is not a parked create: its status is %s (type %s); "
			"only an account.create with status unknown_outcome can be resolved\n",
			id, PQgetvalue(res, 0, 0),
			*PQgetvalue(res, 0, 1) ? PQgetvalue(res, 0, 1) : "-");
		goto out;
	}
	if (PQgetisnull(res, 0, 3) ||
	    (p->doc = json_loads(PQgetvalue(res, 0, 3), 0, NULL)) == NULL) {
		fprintf(stderr,
			"tmprov resolve: %s: its message was not kept (processed before migration "
			"002): cannot resolve it from the database\n",
			id);
		goto out;
	}
	snprintf(p->subject, sizeof(p->subject), "%s", PQgetvalue(res, 0, 2));
	/* A replay of a replay counts from the same root, as in `tmprov replay`. */
	of = json_string_value(json_object_get(p->doc, "replayof"));
	snprintf(p->root, sizeof(p->root), "%s", of && strlen(of) <= REPLAYID_MAX ? of : id);
	self = replayid_index(p->root, id);
	self = self < 0 ? 0 : self;
	max = p->resend ? self
			: replayid_latest(db, p->root, latest, sizeof(latest), lstatus,
					  sizeof(lstatus), err, sizeof(err));
	if (max < 0) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		goto out;
	}
	if (max > self) {
		fprintf(stderr,
			"tmprov resolve: %s was replayed already as %s (%s): that command is the "
			"one to look at\n",
			id, latest, lstatus);
		goto out;
	}
	if (p->resend)
		snprintf(p->new_id, sizeof(p->new_id), "%s", PQgetvalue(res, 0, 5));
	else
		replayid_make(p->root, self + 1, p->new_id, sizeof(p->new_id));
	p->body = replayid_body(PQgetvalue(res, 0, 3), (size_t)PQgetlength(res, 0, 3), p->new_id,
				p->root);
	if (p->body == NULL) {
		fprintf(stderr, "tmprov resolve: %s: its message is not a valid command\n", id);
		goto out;
	}
	{
		unsigned char sum[crypto_hash_sha256_BYTES];

		crypto_hash_sha256(sum, (const unsigned char *)p->body, strlen(p->body));
		sodium_bin2hex(p->sha, sizeof(p->sha), sum, sizeof(sum));
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* One statement of the resolution's transaction; -1 (said why) on failure. rows: the number of
 * rows it must return (-1: any). */
static int
resolve_exec(struct db *db, int stmt, int n, const char *const *params, int rows, const char *what)
{
	char err[512];
	PGresult *res = db_exec(db, stmt, n, params, err, sizeof(err));
	int rc = 0;

	if (res == NULL) {
		fprintf(stderr, "tmprov resolve: %s: %s\n", what,
			strcmp(db_sqlstate(db), "23505") == 0 ? "already taken" : err);
		return -1;
	}
	if (rows >= 0 && PQntuples(res) != rows) {
		fprintf(stderr, "tmprov resolve: %s\n", what);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* account.created for the adopted account, as the worker would have written it, with the two
 * fields that say it was resolved by hand. NULL when out of memory. */
static char *
resolve_event(const struct parked *p, const char *id, const char *uid, char *event_id, size_t idlen)
{
	json_t *data = json_object_get(p->doc, "data");
	struct outcome_account a = {
	    json_string_value(json_object_get(data, "company_name")),
	    json_string_value(json_object_get(data, "email")),
	    (long)json_integer_value(json_object_get(data, "rooms")),
	    (long)json_integer_value(json_object_get(data, "participants")),
	};
	struct timespec now;
	json_t *d = outcome_account_data(uid, &a), *ev;
	char *text = NULL;

	if (d == NULL || json_object_set_new(d, "resolved_by_hand", json_true()) != 0 ||
	    json_object_set_new(d, "resolves", json_string(id)) != 0) {
		json_decref(d);
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	ev = outcome_event(p->new_id, p->subject, "account.created", d, &now);
	if (ev != NULL) {
		snprintf(event_id, idlen, "%s", json_string_value(json_object_get(ev, "id")));
		text = json_dumps(ev, JSON_COMPACT);
	}
	json_decref(ev);
	return text;
}

/* With TM's settings (TMPROV_TM_URL, TMPROV_PARTNER_ID), asks TM for the account before adopting
 * it, taking a token of the group's TM rate: a UID TM does not know (a typo) is refused; values
 * that differ from the create's are shown, and adopted anyway (the operator may know why;
 * reconcile will report them). Without TM's settings the operator's word is taken. 0 or -1. */
static int
resolve_confirm(const struct cfg *cfg, struct db *db, const struct resolve_opts *o,
		const struct parked *p)
{
	json_t *data = json_object_get(p->doc, "data");
	struct tmdrift_account ours = {json_string_value(json_object_get(data, "company_name")),
				       json_string_value(json_object_get(data, "email")),
				       (long)json_integer_value(json_object_get(data, "rooms")),
				       (long)json_integer_value(
					   json_object_get(data, "participants"))},
			       tm;
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = o->uid};
	struct tm_client_opts tmo;
	struct tm_client *tc = NULL;
	struct tmrate *rate = NULL;
	struct tm_result res;
	char err[512];
	unsigned drift;
	int rc = -1;

	if (tm_client_opts_from_cfg(&tmo, cfg) != 0) {
		printf("TMPROV_TM_URL not set: %s adopted without asking TM\n", o->uid);
		return 0;
	}
	tc = tm_client_new(&tmo, err, sizeof(err));
	rate = tmrate_from_cfg(cfg);
	if (tc == NULL || rate == NULL) {
		fprintf(stderr, "tmprov resolve: %s\n", tc ? "out of memory" : err);
		goto out;
	}
	if (tmrate_take(rate, db_conn(db), NULL, NULL) != TMRATE_OK) {
		fprintf(stderr, "tmprov resolve: no TM rate token: %s\n", tmrate_error(rate));
		goto out;
	}
	tm_client_call(tc, &req, &res);
	if (res.outcome != TM_OK) {
		fprintf(stderr, "tmprov resolve: %s: TM %s: %s\n", o->uid,
			res.outcome == TM_FAILED && tmdrift_gone(res.reason)
			    ? "has no such account"
			    : "did not confirm the account",
			res.outcome == TM_FAILED ? res.reason : res.error);
		goto out;
	}
	tm = (struct tmdrift_account){res.company_name, res.email, res.rooms, res.participants};
	drift = tmdrift_compare(&ours, &tm);
	for (unsigned f = 0; f < TMDRIFT_FIELD_COUNT; f++) {
		char a[600], b[600];

		if (!(drift & (1u << f)))
			continue;
		tmdrift_value(&ours, f, a, sizeof(a));
		tmdrift_value(&tm, f, b, sizeof(b));
		printf("note: TM's %s is \"%s\", the create's \"%s\" (tmprov reconcile will report "
		       "it)\n",
		       tmdrift_field_name(f), b, a);
	}
	rc = 0;
out:
	tmrate_free(rate);
	tm_client_free(tc);
	return rc;
}

/* The account exists in TM: record it, the resolution and its event in one transaction. */
static int
resolve_adopt(struct db *db, const struct resolve_opts *o, struct parked *p)
{
	json_t *data = json_object_get(p->doc, "data");
	char rooms[24], parts[24], event_id[OUTCOME_EVENT_ID_LEN], err[512];
	char *event = resolve_event(p, o->id, o->uid, event_id, sizeof(event_id));
	const char *mark[] = {o->id, "company_uid", p->new_id};
	const char *cmd[] = {p->new_id, p->subject, p->sha, "succeeded"};
	const char *acc[] = {p->subject,
			     o->uid,
			     json_string_value(json_object_get(data, "company_name")),
			     json_string_value(json_object_get(data, "email")),
			     rooms,
			     parts};
	const char *box[] = {event_id, p->new_id, "account.created", p->subject, event};
	int rc = -1;

	snprintf(rooms, sizeof(rooms), "%lld",
		 (long long)json_integer_value(json_object_get(data, "rooms")));
	snprintf(parts, sizeof(parts), "%lld",
		 (long long)json_integer_value(json_object_get(data, "participants")));
	if (event == NULL) {
		fprintf(stderr, "tmprov resolve: out of memory\n");
		return -1;
	}
	if (db_begin(db, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		goto out;
	}
	if (resolve_exec(db, CLISQL_RESOLVE_MARK, 3, mark, 1,
			 "it is no longer a parked create (resolved meanwhile?)") != 0 ||
	    resolve_exec(db, CLISQL_RESOLVE_COMMAND, 4, cmd, -1, "the resolution's id") != 0 ||
	    resolve_exec(db, CLISQL_RESOLVE_ACCOUNT, 6, acc, -1,
			 "an account with this subject or company_uid") != 0 ||
	    resolve_exec(db, CLISQL_RESOLVE_OUTBOX, 5, box, -1, "the outcome event") != 0) {
		db_rollback(db, err, sizeof(err));
		goto out;
	}
	if (db_commit(db, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov resolve: commit: %s\n", err);
		goto out;
	}
	printf("resolved %s: %s adopts TM account %s; account.created %s as %s\n", o->id,
	       p->subject, o->uid, event_id, p->new_id);
	rc = 0;
out:
	free(event);
	return rc;
}

/* TM has no account: mark the parked create resolved and record the re-send (status received,
 * for the worker to take up), then send it. */
static int
resolve_resend(struct db *db, const struct cfg *cfg, const struct resolve_opts *o, struct parked *p)
{
	const char *mark[] = {o->id, "not_created", p->new_id};
	const char *cmd[] = {p->new_id, p->subject, p->sha, "received"};
	struct sender *snd = NULL;
	char err[512];
	int rc = -1;

	if (p->resend) {
		printf("not taken up yet: sending %s again\n", p->new_id);
	} else if (db_begin(db, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		return -1;
	} else if (resolve_exec(db, CLISQL_RESOLVE_MARK, 3, mark, 1,
				"it is no longer a parked create (resolved meanwhile?)") != 0 ||
		   resolve_exec(db, CLISQL_RESOLVE_COMMAND, 4, cmd, -1, "the resolution's id") !=
		       0) {
		db_rollback(db, err, sizeof(err));
		return -1;
	} else if (db_commit(db, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov resolve: commit: %s\n", err);
		return -1;
	}
	printf("resend  %s -> %s  account.create %s\n", o->id, p->new_id, p->subject);
	fflush(stdout);
	snd = sender_new(cfg, o->wait, err, sizeof(err));
	if (snd == NULL) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		goto out;
	}
	if (sender_add(snd, p->new_id, p->subject, p->body, strlen(p->body), o->id, err,
		       sizeof(err)) != 0) {
		fprintf(stderr, "tmprov resolve: %s\n", err);
		goto out;
	}
	rc = sender_finish(snd, o->timeout_ms, stdout) ? 0 : -1;
out:
	if (rc != 0)
		fprintf(stderr,
			"tmprov resolve: %s is marked resolved but %s may not have been sent: run "
			"`tmprov resolve %s --not-created` again once Kafka is back (the same id "
			"is sent)\n",
			o->id, p->new_id, o->id);
	sender_free(snd);
	return rc;
}

static int
resolve_run(const char *name, const struct cfg *cfg, struct db *db, void *opts)
{
	struct resolve_opts *o = opts;
	struct parked p = {.body = NULL};
	int rc = CLI_FAIL;

	(void)name;
	if (resolve_check(db, o->id, o->not_created, &p) != 0)
		goto out;
	if (!o->not_created && resolve_confirm(cfg, db, o, &p) != 0)
		goto out;
	if ((o->not_created ? resolve_resend(db, cfg, o, &p) : resolve_adopt(db, o, &p)) == 0)
		rc = CLI_OK;
out:
	free(p.body);
	json_decref(p.doc);
	return rc;
}

int
cmd_resolve(int argc, char **argv)
{
	static const struct clicmd cmd = {
	    .name = "tmprov resolve",
	    .usage = RESOLVE_USAGE,
	    .table = CLICFG_RECONCILE,
	    .catch_signals = true,
	    .flags = resolve_flags,
	    .run = resolve_run,
	};
	struct resolve_opts o = {.timeout_ms = 300000};

	return clicmd_main(&cmd, &o, argc, argv);
}
