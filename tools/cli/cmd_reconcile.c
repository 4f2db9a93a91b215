/* cmd_reconcile: `tmprov reconcile`: queries TM for every active account (TM has no call that
 * lists them), compares with our record, stores each account's check, prints the table and, with
 * --execute, sends the account.update commands that bring TM back to our record. */
#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "clicfg.h"
#include "clisql.h"
#include "clock.h"
#include "sender.h"
#include "tm_client.h"
#include "tmdrift.h"
#include "tmrate.h"
#include "validate.h"

static const char RECONCILE_USAGE[] =
    "usage: tmprov reconcile [--subject S] [--execute [--wait [--timeout D]]]\n"
    "                        [--config FILE] [--print-config]\n"
    "\n"
    "Queries TM (query_account) for every active account, one call per account within the\n"
    "consumer group's TM rate (TMPROV_TM_RATE, shared with the workers), compares TM's four\n"
    "values with our record, stores each account's check (account_checks: when, the result,\n"
    "the drift) and prints a table: in step, drifted (field, ours, TM's), missing in TM (TM\n"
    "answers that it has no such account), not checked (no usable answer); then a summary. A\n"
    "progress bar goes to standard error when it is a terminal. After 5 accounts in a row\n"
    "without any answer from TM the run stops (TM is down); the rest are not checked.\n"
    "\n"
    "  --subject S     this customer only\n"
    "  --execute       send, for each drifted account, an account.update carrying our values\n"
    "                  of the drifted fields to TMPROV_TOPIC_COMMANDS (source tmprov-reconcile,\n"
    "                  id reconcile-HASH of the account, its record's version and the drift:\n"
    "                  run again before the worker got to it, the same repair is sent under\n"
    "                  the same id and done once); the worker carries it out and audits it like\n"
    "                  any command. An account missing in TM is never \"repaired\": find out\n"
    "                  what happened to it first. Without --execute nothing is sent to TM or\n"
    "                  Kafka.\n"
    "  --wait          follow TMPROV_TOPIC_EVENTS until every repair has its outcome\n"
    "  --timeout D     stop waiting after D (default 5m)\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 every account in step (with --execute: every drift repaired, that is sent,\n"
    "and with --wait carried out), 3 drift left (drifted accounts not repaired, or accounts\n"
    "missing in TM), 1 failure (an account could not be checked, a repair was not sent, the\n"
    "database or Kafka unreachable; 1 wins over 3), 2 usage or configuration error.\n";

enum { RECONCILE_DRIFT = 3 }; /* exit status: drift or missing accounts left */

#define RECONCILE_ATTEMPTS 3   /* per account: query_account is safe to repeat */
#define RECONCILE_RETRY_MS 200 /* before the 2nd attempt; doubles */
#define REPAIR_ID_HEX	   32
/* Accounts in a row without any answer from TM (no connection, HTTP errors without TM's XML)
 * after which TM is taken to be down and the run stops: the rest could only fail the same
 * way, three calls each. */
#define RECONCILE_DOWN_AFTER 5

enum check_result { CHECK_IN_STEP, CHECK_DRIFTED, CHECK_MISSING, CHECK_ERROR, CHECK_COUNT };

static const char *const CHECK_NAMES[CHECK_COUNT] = {"in_step", "drifted", "missing", "error"};
static const char *const CHECK_LABELS[CHECK_COUNT] = {"in step", "drifted", "missing",
						      "not checked"};

struct reconcile_opts {
	const char *subject;
	bool execute, wait;
	long timeout_ms;
};

/* One active account: our record, TM's answer and the verdict. */
struct acct {
	char *subject, *uid, *name, *email, *version;
	long rooms, participants;
	enum check_result result;
	unsigned drift; /* tmdrift mask */
	char tm_name[TM_COMPANY_NAME_MAX + 1], tm_email[TM_EMAIL_MAX + 1];
	long tm_rooms, tm_participants;
	char detail[TM_REASON_MAX + TM_ERROR_MAX + 2];
	bool tm_answered; /* TM itself answered the last attempt (tm_result_tm_answered) */
};

struct reconcile {
	const struct reconcile_opts *o;
	const struct cfg *cfg;
	struct db *db;
	struct tm_client *tm;
	struct tmrate *rate; /* the group's TM call bucket, shared with the workers */
	struct acct *a;
	size_t n;
	long counts[CHECK_COUNT];
	long repairs, repair_failures;
	long waited_ms; /* for rate tokens */
};

static int
reconcile_flags(const char *name, int argc, char **argv, struct reconcile_opts *o)
{
	static const struct option longopts[] = {
	    {"subject", required_argument, NULL, 's'},
	    {"execute", no_argument, NULL, 'x'},
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->subject = optarg;
			break;
		case 'x':
			o->execute = true;
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
	if (o->wait && !o->execute)
		return clicfg_usage(name, "--wait goes with --execute");
	return CLI_OK;
}

static struct tmdrift_account
ours_of(const struct acct *a)
{
	return (struct tmdrift_account){a->name, a->email, a->rooms, a->participants};
}

static struct tmdrift_account
tm_of(const struct acct *a)
{
	return (struct tmdrift_account){a->tm_name, a->tm_email, a->tm_rooms, a->tm_participants};
}

static void
accts_free(struct acct *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].subject);
		free(a[i].uid);
		free(a[i].name);
		free(a[i].email);
		free(a[i].version);
	}
	free(a);
}

/* The active accounts (of --subject) into r->a. 0, or -1 (said why). */
static int
reconcile_load(struct reconcile *r)
{
	const char *params[1] = {r->o->subject};
	char err[512];
	PGresult *res = db_exec(r->db, CLISQL_ACTIVE_ACCOUNTS, 1, params, err, sizeof(err));
	int n;

	if (res == NULL) {
		fprintf(stderr, "tmprov reconcile: %s\n", err);
		return -1;
	}
	n = PQntuples(res);
	r->a = calloc(n > 0 ? (size_t)n : 1, sizeof(*r->a));
	for (int i = 0; r->a != NULL && i < n; i++) {
		struct acct *a = &r->a[i];

		a->subject = strdup(PQgetvalue(res, i, 0));
		a->uid = strdup(PQgetvalue(res, i, 1));
		a->name = strdup(PQgetvalue(res, i, 2));
		a->email = strdup(PQgetvalue(res, i, 3));
		a->rooms = strtol(PQgetvalue(res, i, 4), NULL, 10);
		a->participants = strtol(PQgetvalue(res, i, 5), NULL, 10);
		a->version = strdup(PQgetvalue(res, i, 6));
		a->result = CHECK_ERROR; /* until checked */
		snprintf(a->detail, sizeof(a->detail), "not checked: the run stopped before it");
		r->n = (size_t)i + 1;
		if (!a->subject || !a->uid || !a->name || !a->email || !a->version) {
			accts_free(r->a, r->n);
			r->a = NULL;
		}
	}
	PQclear(res);
	if (r->a == NULL) {
		r->n = 0;
		fprintf(stderr, "tmprov reconcile: out of memory\n");
		return -1;
	}
	return 0;
}

/* query_account for a, repeated (within the rate) while TM gives no usable answer. */
static void
reconcile_query(struct reconcile *r, struct acct *a)
{
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = a->uid};
	struct tm_result res;
	struct tmdrift_account ours = ours_of(a), tm;
	long delay = RECONCILE_RETRY_MS;
	static atomic_bool stop;

	for (int attempt = 1; attempt <= RECONCILE_ATTEMPTS && !clicfg_stop; attempt++) {
		/* One token of the group's bucket per call: reconcile competes with the workers'
		 * commands for TM's rate instead of adding to it. */
		atomic_store(&stop, clicfg_stop != 0);
		if (tmrate_take(r->rate, db_conn(r->db), &stop, &r->waited_ms) != TMRATE_OK) {
			snprintf(a->detail, sizeof(a->detail), "no TM rate token: %s",
				 tmrate_error(r->rate) ? tmrate_error(r->rate) : "stopped");
			break;
		}
		tm_client_call(r->tm, &req, &res);
		a->tm_answered = tm_result_tm_answered(&res);
		if (res.outcome == TM_OK) {
			snprintf(a->tm_name, sizeof(a->tm_name), "%s", res.company_name);
			snprintf(a->tm_email, sizeof(a->tm_email), "%s", res.email);
			a->tm_rooms = res.rooms;
			a->tm_participants = res.participants;
			tm = tm_of(a);
			a->drift = tmdrift_compare(&ours, &tm);
			a->result = a->drift ? CHECK_DRIFTED : CHECK_IN_STEP;
			return;
		}
		if (res.outcome == TM_FAILED) {
			snprintf(a->detail, sizeof(a->detail), "%s", res.reason);
			a->result = tmdrift_gone(res.reason) ? CHECK_MISSING : CHECK_ERROR;
			return;
		}
		snprintf(a->detail, sizeof(a->detail), "%s", res.error);
		if (attempt < RECONCILE_ATTEMPTS) {
			struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};

			nanosleep(&ts, NULL);
			delay *= 2;
		}
	}
	a->result = CHECK_ERROR;
}

/* The account's check into account_checks. 0 or -1 (said why). */
static int
reconcile_store(struct reconcile *r, const struct acct *a)
{
	struct tmdrift_account ours = ours_of(a), tm = tm_of(a);
	json_t *drift = tmdrift_json(a->drift, &ours, &tm), *tmv = NULL;
	char *dtext = drift ? json_dumps(drift, JSON_COMPACT) : NULL, *tmtext = NULL, err[512];
	const char *params[5];
	PGresult *res;
	int rc = -1;

	if (a->result == CHECK_IN_STEP || a->result == CHECK_DRIFTED) {
		tmv = json_pack("{s:s, s:s, s:I, s:I}", "company_name", a->tm_name, "email",
				a->tm_email, "rooms", (json_int_t)a->tm_rooms, "participants",
				(json_int_t)a->tm_participants);
		tmtext = tmv ? json_dumps(tmv, JSON_COMPACT) : NULL;
	}
	params[0] = a->subject;
	params[1] = CHECK_NAMES[a->result];
	params[2] = dtext;
	params[3] = tmtext;
	params[4] = a->detail[0] ? a->detail : NULL;
	if (dtext == NULL) {
		fprintf(stderr, "tmprov reconcile: out of memory\n");
		goto out;
	}
	res = db_exec(r->db, CLISQL_CHECK_STORE, 5, params, err, sizeof(err));
	if (res == NULL) {
		fprintf(stderr, "tmprov reconcile: %s: check not stored: %s\n", a->subject, err);
		goto out;
	}
	PQclear(res);
	rc = 0;
out:
	json_decref(drift);
	json_decref(tmv);
	free(dtext);
	free(tmtext);
	return rc;
}

/* "[#####     ] 12/40" on stderr, rewritten in place; done: the line is cleared. */
static void
reconcile_progress(size_t done, size_t total, bool last)
{
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	size_t fill = total ? done * WIDTH / total : WIDTH;

	for (size_t i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[WIDTH] = '\0';
	if (last)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\r[%s] %zu/%zu accounts", bar, done, total);
	fflush(stderr);
}

/* Checks and stores every account. */
static void
reconcile_check_all(struct reconcile *r)
{
	bool bar = isatty(STDERR_FILENO);
	unsigned down = 0;

	for (size_t i = 0; i < r->n && !clicfg_stop && down < RECONCILE_DOWN_AFTER; i++) {
		if (bar)
			reconcile_progress(i, r->n, false);
		reconcile_query(r, &r->a[i]);
		if (reconcile_store(r, &r->a[i]) != 0)
			r->a[i].result = CHECK_ERROR;
		down = r->a[i].tm_answered ? 0 : down + 1;
	}
	if (bar)
		reconcile_progress(r->n, r->n, true);
	if (down >= RECONCILE_DOWN_AFTER)
		fprintf(
		    stderr,
		    "tmprov reconcile: TM gave no answer for %u accounts in a row: stopped, the "
		    "rest not checked\n",
		    down);
}

/* A value for the table: text quoted as JSON (spaces and case show), numbers bare. */
static void
cell(const struct tmdrift_account *a, enum tmdrift_field f, char *out, size_t outlen)
{
	char v[TM_COMPANY_NAME_MAX + TM_EMAIL_MAX + 2];

	tmdrift_value(a, f, v, sizeof(v));
	if (f == TMDRIFT_COMPANY_NAME || f == TMDRIFT_EMAIL) {
		json_t *s = json_string(v);
		char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;

		snprintf(out, outlen, "%s", q ? q : v);
		free(q);
		json_decref(s);
	} else {
		snprintf(out, outlen, "%s", v);
	}
}

static void
reconcile_print(const struct reconcile *r)
{
	char ours[600], tm[600];

	printf("%-11s %-24s %-13s %-26s %s\n", "RESULT", "SUBJECT", "FIELD", "OURS", "TM");
	for (size_t i = 0; i < r->n; i++) {
		const struct acct *a = &r->a[i];
		struct tmdrift_account o = ours_of(a), t = tm_of(a);

		switch (a->result) {
		case CHECK_DRIFTED:
			for (unsigned f = 0; f < TMDRIFT_FIELD_COUNT; f++) {
				if (!(a->drift & (1u << f)))
					continue;
				cell(&o, f, ours, sizeof(ours));
				cell(&t, f, tm, sizeof(tm));
				printf("%-11s %-24s %-13s %-26s %s\n", "drifted", a->subject,
				       tmdrift_field_name(f), ours, tm);
			}
			break;
		case CHECK_MISSING:
			printf("%-11s %-24s %-13s %-26s (none: %s)\n", "missing", a->subject,
			       "company_uid", a->uid, a->detail);
			break;
		default:
			printf("%-11s %s%s%s\n", CHECK_LABELS[a->result], a->subject,
			       a->detail[0] && a->result == CHECK_ERROR ? "  " : "",
			       a->result == CHECK_ERROR ? a->detail : "");
		}
	}
}

/* reconcile-HASH: a function of the account, its record's version and the drift found, so a
 * run repeated before the repair was carried out sends the same id (done once), and a drift
 * found again after it (the repair moved the version) a new one. */
static void
repair_id(const struct acct *a, const char *drift, char out[11 + REPAIR_ID_HEX])
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	crypto_hash_sha256_state st;
	const char *parts[] = {a->subject, a->uid, a->version, drift};

	crypto_hash_sha256_init(&st);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		crypto_hash_sha256_update(&st, (const unsigned char *)parts[i],
					  strlen(parts[i]) + 1);
	crypto_hash_sha256_final(&st, sum);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	snprintf(out, 11 + REPAIR_ID_HEX, "reconcile-%.*s", REPAIR_ID_HEX, hex);
}

/* The account.update that sets the drifted fields to our values; malloc'd, NULL if it cannot
 * be built. *what lists them ("rooms=2 email=..."). */
static char *
repair_body(const struct acct *a, const char *id, char *what, size_t whatlen)
{
	struct tmdrift_account o = ours_of(a);
	json_t *data = json_object(), *doc;
	char *text = NULL, v[600];
	size_t used = 0;
	struct command *cmd = NULL;

	what[0] = '\0';
	for (unsigned f = 0; data != NULL && f < TMDRIFT_FIELD_COUNT; f++) {
		if (!(a->drift & (1u << f)))
			continue;
		json_object_set_new(data, tmdrift_field_name(f),
				    f == TMDRIFT_ROOMS		? json_integer(a->rooms)
				    : f == TMDRIFT_PARTICIPANTS ? json_integer(a->participants)
				    : f == TMDRIFT_EMAIL	? json_string(a->email)
								: json_string(a->name));
		cell(&o, f, v, sizeof(v));
		if (used < whatlen)
			used += (size_t)snprintf(what + used, whatlen - used, "%s%s=%s",
						 used ? " " : "", tmdrift_field_name(f), v);
	}
	/* No time attribute: the same repair must be the same bytes, or the worker would take
	 * the repeat for another command under the same id. */
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id, "source",
			"tmprov-reconcile", "type", "account.update", "subject", a->subject, "data",
			data);
	if (doc != NULL)
		text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text != NULL && command_parse(text, strlen(text), &cmd, NULL) != VALIDATE_OK) {
		free(text);
		text = NULL;
	}
	command_free(cmd);
	return text;
}

/* Whether our record of a is still the one checked (no command changed it meanwhile). */
static bool
repair_still_current(struct reconcile *r, const struct acct *a)
{
	const char *params[1] = {a->subject};
	char err[512];
	PGresult *res = db_exec(r->db, CLISQL_ACTIVE_ACCOUNTS, 1, params, err, sizeof(err));
	bool same =
	    res != NULL && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 6), a->version) == 0;

	PQclear(res);
	return same;
}

/* Sends one repair per drifted account. */
static void
reconcile_repair(struct reconcile *r, struct sender *snd)
{
	char id[11 + REPAIR_ID_HEX], what[1400], err[512];

	for (size_t i = 0; i < r->n && !clicfg_stop; i++) {
		const struct acct *a = &r->a[i];
		struct tmdrift_account o = ours_of(a), t = tm_of(a);
		json_t *drift;
		char *dtext, *body;

		if (a->result != CHECK_DRIFTED)
			continue;
		if (!repair_still_current(r, a)) {
			printf("%-11s %-24s our record changed since the check: run reconcile "
			       "again\n",
			       "skip", a->subject);
			r->repair_failures++;
			continue;
		}
		drift = tmdrift_json(a->drift, &o, &t);
		dtext = drift ? json_dumps(drift, JSON_COMPACT) : NULL;
		json_decref(drift);
		if (dtext == NULL) {
			r->repair_failures++;
			continue;
		}
		repair_id(a, dtext, id);
		free(dtext);
		body = repair_body(a, id, what, sizeof(what));
		if (body == NULL || sender_add(snd, id, a->subject, body, strlen(body), a->subject,
					       err, sizeof(err)) != 0) {
			fprintf(stderr, "tmprov reconcile: %s: repair not sent: %s\n", a->subject,
				body ? err : "not a valid command");
			r->repair_failures++;
		} else {
			printf("%-11s %-24s %s  account.update %s\n", "repair", a->subject, id,
			       what);
			r->repairs++;
		}
		free(body);
	}
}

/* The summary line; returns the exit status. */
static int
reconcile_summary(const struct reconcile *r, double seconds, bool sent_ok)
{
	const long *c = r->counts;
	bool repaired = r->o->execute && sent_ok && r->repair_failures == 0;

	printf(
	    "%zu account%s checked: %ld in step, %ld drifted, %ld missing in TM, %ld not checked "
	    "(%.1f s, %.1f s of it waiting for TM rate tokens)\n",
	    r->n, r->n == 1 ? "" : "s", c[CHECK_IN_STEP], c[CHECK_DRIFTED], c[CHECK_MISSING],
	    c[CHECK_ERROR], seconds, r->waited_ms / 1000.0);
	if (c[CHECK_ERROR] > 0 || clicfg_stop || (r->o->execute && !repaired))
		return CLI_FAIL;
	if (c[CHECK_MISSING] > 0 || (c[CHECK_DRIFTED] > 0 && !repaired))
		return RECONCILE_DRIFT;
	return CLI_OK;
}

static int
reconcile_setup(struct reconcile *r, char *err, size_t errlen)
{
	struct tm_client_opts tmo;

	if (tm_client_opts_from_cfg(&tmo, r->cfg) != 0) {
		snprintf(err, errlen, "TMPROV_TM_URL and TMPROV_PARTNER_ID must be set");
		return CLI_USAGE;
	}
	r->tm = tm_client_new(&tmo, err, errlen);
	if (r->tm == NULL)
		return CLI_USAGE;
	r->rate = tmrate_from_cfg(r->cfg);
	if (r->rate == NULL) {
		snprintf(err, errlen, "out of memory");
		return CLI_FAIL;
	}
	r->db = clicfg_db(r->cfg, false, err, errlen);
	return r->db == NULL ? CLI_FAIL : CLI_OK;
}

int
cmd_reconcile(int argc, char **argv)
{
	static const char name[] = "tmprov reconcile";
	struct reconcile_opts o = {.timeout_ms = 300000};
	struct reconcile r = {.o = &o};
	struct sender *snd = NULL;
	struct cfg *cfg;
	double t0;
	bool sent_ok = true;
	char err[512];
	int rc;

	if (clicfg_wants_help(argc, argv)) {
		fputs(RECONCILE_USAGE, stdout);
		return CLI_OK;
	}
	cfg = clicfg_load_table(name, CLICFG_RECONCILE, &argc, argv);
	if (cfg == NULL)
		return CLI_FAIL;
	r.cfg = cfg;
	rc = reconcile_flags(name, argc, argv, &o);
	if (rc != CLI_OK)
		goto out;
	clicfg_catch_signals();
	rc = reconcile_setup(&r, err, sizeof(err));
	if (rc != CLI_OK) {
		fprintf(stderr, "%s: %s\n", name, err);
		goto out;
	}
	rc = CLI_FAIL;
	if (reconcile_load(&r) != 0)
		goto out;
	if (o.subject != NULL && r.n == 0) {
		fprintf(stderr, "%s: no active account %s\n", name, o.subject);
		goto out;
	}
	t0 = clock_now_ms();
	reconcile_check_all(&r);
	for (size_t i = 0; i < r.n; i++)
		r.counts[r.a[i].result]++;
	reconcile_print(&r);
	if (o.execute && r.counts[CHECK_DRIFTED] > 0) {
		snd = sender_new(cfg, o.wait, err, sizeof(err));
		if (snd == NULL) {
			fprintf(stderr, "%s: %s\n", name, err);
			sent_ok = false;
		} else {
			reconcile_repair(&r, snd);
			sent_ok = sender_finish(snd, o.timeout_ms, stdout);
		}
	} else {
		printf("nothing sent%s\n", o.execute
					       ? ": no drift an update can repair"
					       : " (report only: --execute sends the repairs)");
	}
	rc = reconcile_summary(&r, (clock_now_ms() - t0) / 1000.0, sent_ok);
out:
	sender_free(snd);
	accts_free(r.a, r.n);
	tmrate_free(r.rate);
	tm_client_free(r.tm);
	db_free(r.db);
	cfg_free(cfg);
	return rc;
}
