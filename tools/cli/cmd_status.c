/* cmd_status: `tmprov status ID` and `tmprov status --subject S`: what the database knows of
 * one command (its row, every TM call, a call still in doubt, its outcome event, its replays)
 * or of one customer (account, users, meetings, recent commands); `tmprov status --tm`: each
 * running worker's TM side (breaker, next probe, last failures, concurrency, rate). Reads only. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "clicfg.h"
#include "clisql.h"
#include "evfmt.h"
#include "replayid.h"

/* A worker reports at least every 3 s (tmstate.h): five reports missed is a worker gone. */
#define STATUS_STALE_S	  15
#define STATUS_STALE_TEXT "15"

static const char STATUS_USAGE[] =
    "usage: tmprov status [--limit N] [--config FILE] [--print-config] ID | --subject S | --tm\n"
    "\n"
    "Prints what the database (TMPROV_DATABASE_URL) knows of command ID: its status, attempts\n"
    "and last error, where it was read from Kafka, every TM call made for it (endpoint,\n"
    "result, HTTP and TM status, reason, duration), a call whose outcome is still unknown, its\n"
    "outcome event and whether it was published, and its replays. With --subject, the\n"
    "customer: account, users, meetings and the most recent commands. With --tm, each worker's\n"
    "view of TM as it last reported it (every few seconds): circuit breaker (closed, open,\n"
    "half-open) and its next probe, the last failures, the concurrency limit and calls in\n"
    "flight, the group's rate; a worker silent for " STATUS_STALE_TEXT " s is shown as stale.\n"
    "\n"
    "  --subject S     the customer whose subject is S, instead of a command\n"
    "  --tm            the workers' TM side, instead of a command\n"
    "  --limit N       meetings and commands listed for a customer (default 20)\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 found, 1 not found or the database unreachable, 2 usage error.\n";

#define V(res, row, col) PQgetvalue(res, row, col)

static PGresult *
status_query(struct db *db, int stmt, const char *a, const char *b)
{
	const char *params[2] = {a, b};
	char err[512];
	PGresult *res = db_exec(db, stmt, b ? 2 : 1, params, err, sizeof(err));

	if (res == NULL)
		fprintf(stderr, "tmprov status: %s\n", err);
	return res;
}

static void
status_calls(struct db *db, const char *id)
{
	PGresult *res = status_query(db, CLISQL_CALLS, id, NULL);

	if (res == NULL)
		return;
	printf("TM calls      %d\n", PQntuples(res));
	for (int i = 0; i < PQntuples(res); i++) {
		printf("  #%-2d %s  %-15s %-9s http %-3s", i + 1, V(res, i, 6), V(res, i, 0),
		       V(res, i, 1), V(res, i, 2)[0] ? V(res, i, 2) : "-");
		if (V(res, i, 3)[0])
			printf("  tm %s", V(res, i, 3));
		printf("  %5s ms", V(res, i, 5));
		if (V(res, i, 4)[0])
			printf("  %s", V(res, i, 4));
		printf("\n");
	}
	PQclear(res);
	res = status_query(db, CLISQL_INTENTS, id, NULL);
	for (int i = 0; res != NULL && i < PQntuples(res); i++)
		printf("  in doubt: attempt %s of %s started %s, no result recorded (the worker "
		       "stopped during the call)\n",
		       V(res, i, 1), V(res, i, 0), V(res, i, 2));
	PQclear(res);
}

static void
status_outbox(struct db *db, const char *id)
{
	PGresult *res = status_query(db, CLISQL_OUTBOX, id, NULL);
	char line[4096];
	json_t *ev;

	if (res == NULL)
		return;
	if (PQntuples(res) == 0) {
		printf("outcome       none yet\n");
		PQclear(res);
		return;
	}
	ev = json_loads(V(res, 0, 2), 0, NULL);
	evfmt_details(ev, line, sizeof(line));
	printf("outcome       %s %s\n", V(res, 0, 1), V(res, 0, 0));
	printf("  written     %s\n", V(res, 0, 3));
	printf("  published   %s\n", V(res, 0, 4)[0] ? V(res, 0, 4) : "not yet (in the outbox)");
	printf("  data        %s\n", line);
	json_decref(ev);
	PQclear(res);
}

/* The replays of the command's root made after it, and the root when it is a replay. */
static void
status_replays(struct db *db, const char *id)
{
	char prefix[REPLAYID_MAX + 8], root[REPLAYID_MAX + 1];
	long self = replayid_root_of(id, root, sizeof(root));
	PGresult *res;
	int n = 0;

	/* An id that merely looks like ROOT.rN is a replay only when ROOT is a command. */
	if (self > 0) {
		res = status_query(db, CLISQL_STATUS_OF, root, NULL);
		if (res == NULL || PQntuples(res) == 0)
			self = 0;
		PQclear(res);
	}
	if (self == 0)
		snprintf(root, sizeof(root), "%s", id);
	replayid_prefix(root, prefix, sizeof(prefix));
	res = status_query(db, CLISQL_PREFIXED, prefix, NULL);
	for (int i = 0; res != NULL && i < PQntuples(res); i++) {
		if (replayid_index(root, V(res, i, 0)) <= self)
			continue;
		printf("%s%s (%s)", n++ ? ", " : "replayed as   ", V(res, i, 0), V(res, i, 1));
	}
	if (n)
		printf("\n");
	PQclear(res);
	if (self > 0)
		printf("replay of     %s (replay number %ld)\n", root, self);
}

static int
status_command(struct db *db, const char *id)
{
	PGresult *res = status_query(db, CLISQL_COMMAND, id, NULL);

	if (res == NULL)
		return CLI_FAIL;
	if (PQntuples(res) == 0) {
		fprintf(stderr,
			"tmprov status: no command %s in the database (not read by a worker "
			"yet, or never sent)\n",
			id);
		PQclear(res);
		return CLI_FAIL;
	}
	printf("command       %s\n", V(res, 0, CLISQL_CMD_ID));
	printf("type          %s\n", V(res, 0, CLISQL_CMD_TYPE));
	printf("subject       %s\n", V(res, 0, CLISQL_CMD_SUBJECT));
	printf("status        %s\n", V(res, 0, CLISQL_CMD_STATUS));
	printf("attempts      %s\n", V(res, 0, CLISQL_CMD_ATTEMPTS));
	if (V(res, 0, CLISQL_CMD_LAST_ERROR)[0])
		printf("last error    %s\n", V(res, 0, CLISQL_CMD_LAST_ERROR));
	if (V(res, 0, CLISQL_CMD_RETRYABLE)[0])
		printf("retryable     %s\n",
		       strcmp(V(res, 0, CLISQL_CMD_RETRYABLE), "true") == 0 ? "yes" : "no");
	if (V(res, 0, CLISQL_CMD_KAFKA_TOPIC)[0])
		printf("read from     %s [%s] @ %s\n", V(res, 0, CLISQL_CMD_KAFKA_TOPIC),
		       V(res, 0, CLISQL_CMD_KAFKA_PARTITION), V(res, 0, CLISQL_CMD_KAFKA_OFFSET));
	printf("first seen    %s\n", V(res, 0, CLISQL_CMD_CREATED));
	printf("last change   %s\n", V(res, 0, CLISQL_CMD_UPDATED));
	if (strcmp(V(res, 0, CLISQL_CMD_HAS_BODY), "true") == 0)
		printf("message kept  yes: tmprov replay can re-send it\n");
	PQclear(res);
	status_calls(db, id);
	status_outbox(db, id);
	status_replays(db, id);
	return CLI_OK;
}

static void
status_users(struct db *db, const char *subject)
{
	PGresult *res = status_query(db, CLISQL_USERS, subject, NULL);

	if (res == NULL)
		return;
	printf("users         %d\n", PQntuples(res));
	for (int i = 0; i < PQntuples(res); i++)
		printf("  %-16s %-32s %s %s  %s  since %s\n", V(res, i, 0), V(res, i, 1),
		       V(res, i, 2), V(res, i, 3), V(res, i, 4), V(res, i, 5));
	PQclear(res);
}

static void
status_meetings(struct db *db, const char *subject, const char *limit)
{
	PGresult *res = status_query(db, CLISQL_MEETINGS, subject, limit);

	if (res == NULL)
		return;
	printf("meetings      %d%s\n", PQntuples(res),
	       PQntuples(res) == atoi(limit) ? " (the latest; --limit shows more)" : "");
	for (int i = 0; i < PQntuples(res); i++) {
		printf("  %-12s %s  %-12s %s", V(res, i, 0), V(res, i, 3), V(res, i, 1),
		       V(res, i, 2));
		if (strcmp(V(res, i, 5), "true") == 0)
			printf("  [possible duplicate at TM]");
		if (V(res, i, 6)[0])
			printf("  [canceled %s]", V(res, i, 6));
		printf("\n");
	}
	PQclear(res);
}

static void
status_recent(struct db *db, const char *subject, const char *limit)
{
	PGresult *res = status_query(db, CLISQL_SUBJECT_COUNTS, subject, NULL);

	if (res == NULL)
		return;
	printf("commands     ");
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s %s %s", i ? "," : "", V(res, i, 1), V(res, i, 0));
	printf("%s\n", PQntuples(res) ? "" : " none");
	PQclear(res);
	res = status_query(db, CLISQL_SUBJECT_COMMANDS, subject, limit);
	for (int i = 0; res != NULL && i < PQntuples(res); i++) {
		printf("  %s  %-16s %-15s %s", V(res, i, 5), V(res, i, 1), V(res, i, 2),
		       V(res, i, 0));
		if (V(res, i, 4)[0])
			printf("  (%s)", V(res, i, 4));
		printf("\n");
	}
	PQclear(res);
}

static int
status_subject(struct db *db, const char *subject, const char *limit)
{
	PGresult *res = status_query(db, CLISQL_ACCOUNT, subject, NULL);
	bool found;

	if (res == NULL)
		return CLI_FAIL;
	found = PQntuples(res) > 0;
	if (found) {
		printf("customer      %s\n", subject);
		printf("account       %s (%s)\n", V(res, 0, 1), V(res, 0, 6));
		printf("company       %s\n", V(res, 0, 2));
		printf("email         %s\n", V(res, 0, 3));
		printf("rooms         %s\n", V(res, 0, 4));
		printf("participants  %s\n", V(res, 0, 5));
		printf("created       %s\n", V(res, 0, 7));
		printf("updated       %s\n", V(res, 0, 8));
		if (V(res, 0, 9)[0])
			printf("deleted       %s\n", V(res, 0, 9));
	} else {
		printf("customer      %s\n", subject);
		printf("account       none\n");
	}
	PQclear(res);
	status_users(db, subject);
	status_meetings(db, subject, limit);
	status_recent(db, subject, limit);
	return CLI_OK;
}

/* The last failures of a worker's report (a JSON array of {at, reason}), one line each. */
static void
status_tm_failures(const char *text)
{
	json_t *a = json_loads(text, 0, NULL), *f;
	char when[32];
	size_t i;

	json_array_foreach(a, i, f)
	{
		time_t t = (time_t)json_number_value(json_object_get(f, "at"));
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("    failed    %s  %s\n", when,
		       json_string_value(json_object_get(f, "reason"))
			   ? json_string_value(json_object_get(f, "reason"))
			   : "");
	}
	json_decref(a);
}

static int
status_tm(struct db *db)
{
	PGresult *res = status_query(db, CLISQL_TM_WORKERS, STATUS_STALE_TEXT, NULL);
	int n;

	if (res == NULL)
		return CLI_FAIL;
	n = PQntuples(res);
	if (n == 0)
		printf("no worker has reported (none running, or none since migration 005)\n");
	for (int i = 0; i < n; i++) {
		bool stale = strcmp(V(res, i, 9), "t") == 0;

		printf("worker        %s (group %s)%s\n", V(res, i, 0), V(res, i, 1),
		       stale ? "  STALE: no report for a while, the worker is gone or stuck" : "");
		printf("  breaker     %s", V(res, i, 2));
		if (V(res, i, 3)[0])
			printf("  next probe %s", V(res, i, 3));
		printf("\n  calls       %s in flight, limit %s\n", V(res, i, 6), V(res, i, 5));
		if (atof(V(res, i, 7)) > 0)
			printf("  rate        %s calls/s for the group\n", V(res, i, 7));
		else
			printf("  rate        no limit\n");
		printf("  reported    %s s ago\n", V(res, i, 8));
		status_tm_failures(V(res, i, 4));
	}
	PQclear(res);
	return n > 0 ? CLI_OK : CLI_FAIL;
}

struct status_opts {
	const char *id, *subject, *limit;
	bool tm;
};

static int
status_flags(const char *name, int argc, char **argv, void *opts)
{
	struct status_opts *o = opts;
	static const struct option longopts[] = {
	    {"subject", required_argument, NULL, 's'},
	    {"limit", required_argument, NULL, 'l'},
	    {"tm", no_argument, NULL, 't'},
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
		case 't':
			o->tm = true;
			break;
		case 'l':
			if (strspn(optarg, "0123456789") != strlen(optarg) || strlen(optarg) > 6 ||
			    atoi(optarg) < 1)
				return clicfg_usage(name,
						    "--limit: %s is not a count from 1 to "
						    "999999",
						    optarg);
			o->limit = optarg;
			break;
		case ':':
			return clicfg_usage(name, "%s needs a value", argv[optind - 1]);
		default:
			return clicfg_usage(name, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->id = argv[optind++];
	if (optind < argc || (o->id != NULL) + (o->subject != NULL) + o->tm != 1)
		return clicfg_usage(name, "give one command ID, or --subject S, or --tm");
	return CLI_OK;
}

static int
status_run(const char *name, const struct cfg *cfg, struct db *db, void *opts)
{
	const struct status_opts *o = opts;

	(void)name;
	(void)cfg;
	return o->tm   ? status_tm(db)
	       : o->id ? status_command(db, o->id)
		       : status_subject(db, o->subject, o->limit);
}

int
cmd_status(int argc, char **argv)
{
	static const struct clicmd cmd = {
	    .name = "tmprov status",
	    .usage = STATUS_USAGE,
	    .table = CLICFG_OPERATOR,
	    .flags = status_flags,
	    .run = status_run,
	};
	struct status_opts o = {.limit = "20"};

	return clicmd_main(&cmd, &o, argc, argv);
}
