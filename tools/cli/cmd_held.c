/* cmd_held: `tmprov held`, `tmprov approve ID|--all` and `tmprov reject ID|--all`: the account
 * deletions the mass-delete guard holds (migrations/006_delete_guard.sql), what waits behind
 * them, and the operator's verdict. The verdict is written in the database; then the held
 * message is sent again (same id, keyed by subject) to wake its subject's queue in a worker. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clicfg.h"
#include "clisql.h"
#include "sender.h"

static const char HELD_USAGE[] =
    "usage: tmprov held [--config FILE] [--print-config]\n"
    "       tmprov approve (ID | --all) [--config FILE] [--print-config]\n"
    "       tmprov reject (ID | --all) [--config FILE] [--print-config]\n"
    "\n"
    "More than TMPROV_DELETE_GUARD account deletions within TMPROV_DELETE_GUARD_WINDOW (for\n"
    "the whole consumer group) hold every further account.delete: it is neither executed nor\n"
    "failed, a command.held event says why, and later commands of its subject wait behind it\n"
    "(other subjects go on). Held and waiting commands are kept in the database and survive\n"
    "restarts and rebalances.\n"
    "\n"
    "  held     lists the held commands, each with the commands waiting behind it\n"
    "  approve  releases them: each runs (without asking the guard again, though it counts),\n"
    "           then what waited behind it, in order\n"
    "  reject   ends them as command.failed, reason rejected_by_operator, not retryable; what\n"
    "           waited behind runs\n"
    "\n"
    "approve and reject send the held message to TMPROV_TOPIC_COMMANDS again (same id, keyed\n"
    "by its subject) to wake a worker; approving a command approved already sends it again.\n"
    "\n"
    "  --all           every held command\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 done (held: also when none), 1 the command is unknown or not held, the\n"
    "database unreachable or a message not sent, 2 usage error (a malformed ID among them).\n";

#define V(res, row, col) PQgetvalue(res, row, col)
#define HELD_ID_MAX	 200 /* commands.id's CHECK */
#define HELD_SEND_MS	 30000

enum held_verb { HELD_LIST, HELD_APPROVE, HELD_REJECT };

struct held_opts {
	enum held_verb verb;
	const char *id; /* NULL with all */
	bool all;
};

static int
held_flags(const char *name, int argc, char **argv, void *opts)
{
	struct held_opts *o = opts;
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (ch == 'a' && o->verb != HELD_LIST)
			o->all = true;
		else
			return clicfg_usage(name, "unknown option %s", argv[optind - 1]);
	}
	if (optind < argc)
		o->id = argv[optind++];
	if (optind < argc)
		return clicfg_usage(name, "unexpected argument %s", argv[optind]);
	if (o->verb == HELD_LIST)
		return o->id ? clicfg_usage(name, "unexpected argument %s", o->id) : CLI_OK;
	if ((o->id == NULL) == !o->all)
		return clicfg_usage(name, "give either ID or --all");
	if (o->id != NULL && (o->id[0] == '\0' || strlen(o->id) > HELD_ID_MAX))
		return clicfg_usage(name, "'%.40s%s' is not a command id (1 to %d characters)",
				    o->id, strlen(o->id) > 40 ? "..." : "", HELD_ID_MAX);
	return CLI_OK;
}

/* `tmprov held`: per subject, its queue: the held command, and what waits behind it. */
static int
held_list(const char *name, struct db *db)
{
	char err[512];
	PGresult *res = db_exec(db, CLISQL_HELD_LIST, 0, NULL, err, sizeof(err));
	int nheld = 0, nwait = 0;

	if (res == NULL) {
		fprintf(stderr, "%s: %s\n", name, err);
		return CLI_FAIL;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		bool held = strcmp(V(res, i, 3), "held") == 0;

		if (i == 0 || strcmp(V(res, i, 1), V(res, i - 1, 1)) != 0)
			printf("subject %s\n", V(res, i, 1));
		if (held)
			printf("  held    %s %s  since %s  (read from partition %s offset %s)\n",
			       V(res, i, 0), V(res, i, 2), V(res, i, 5), V(res, i, 6),
			       V(res, i, 7));
		else
			printf("  waiting %s %s%s\n", V(res, i, 0), V(res, i, 2),
			       strcmp(V(res, i, 4), "true") == 0      ? "  (approved, about to run)"
			       : strcmp(V(res, i, 3), "waiting") == 0 ? ""
								      : "  (running)");
		nheld += held;
		nwait += !held;
	}
	printf("%d held, %d waiting behind them\n", nheld, nwait);
	PQclear(res);
	return CLI_OK;
}

/* Fails (1) unless id is held, or (approve) approved already: then *resend. */
static int
held_check(const char *name, struct db *db, const struct held_opts *o, bool *resend)
{
	const char *params[1] = {o->id};
	char err[512];
	PGresult *res = db_exec(db, CLISQL_HELD_STATE, 1, params, err, sizeof(err));
	int rc = CLI_FAIL;

	*resend = false;
	if (res == NULL)
		fprintf(stderr, "%s: %s\n", name, err);
	else if (PQntuples(res) == 0)
		fprintf(stderr, "%s: no command %s\n", name, o->id);
	else if (strcmp(V(res, 0, 3), "held") == 0)
		rc = CLI_OK;
	else if (o->verb == HELD_APPROVE && strcmp(V(res, 0, 3), "waiting") == 0 &&
		 strcmp(V(res, 0, 4), "true") == 0) {
		printf("%s is approved already; its message is sent again\n", o->id);
		*resend = true;
		rc = CLI_OK;
	} else
		fprintf(stderr, "%s: command %s is %s, not held (nothing changed)\n", name, o->id,
			V(res, 0, 3));
	PQclear(res);
	return rc;
}

/* Sends the held messages (res: rows of id, subject, body) again to wake their subjects. */
static int
held_wake(const char *name, const struct cfg *cfg, PGresult *res)
{
	struct sender *snd;
	char err[512];
	int rc = CLI_OK;

	if (PQntuples(res) == 0)
		return CLI_OK;
	snd = sender_new(cfg, false, err, sizeof(err));
	if (snd == NULL) {
		fprintf(stderr, "%s: %s; run it again to send the messages\n", name, err);
		return CLI_FAIL;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 2)) {
			fprintf(stderr, "%s: %s has no kept message\n", name, V(res, i, 0));
			rc = CLI_FAIL;
			continue;
		}
		if (sender_add(snd, V(res, i, 0), V(res, i, 1), V(res, i, 2),
			       (size_t)PQgetlength(res, i, 2), V(res, i, 0), err,
			       sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", name, err);
			rc = CLI_FAIL;
		}
	}
	if (!sender_finish(snd, HELD_SEND_MS, stdout))
		rc = CLI_FAIL;
	sender_free(snd);
	return rc;
}

/* approve or reject: the verdict in the database, then the wake-up. */
static int
held_verdict(const char *name, const struct cfg *cfg, struct db *db, const struct held_opts *o)
{
	const char *params[1] = {o->id};
	bool approve = o->verb == HELD_APPROVE, resend = false;
	char err[512];
	PGresult *res;
	int rc;

	if (o->id != NULL && (rc = held_check(name, db, o, &resend)) != CLI_OK)
		return rc;
	res = db_exec(db,
		      resend	? CLISQL_HELD_STATE
		      : approve ? CLISQL_HELD_APPROVE
				: CLISQL_HELD_REJECT,
		      1, params, err, sizeof(err));
	if (res == NULL) {
		fprintf(stderr, "%s: %s\n", name, err);
		return CLI_FAIL;
	}
	for (int i = 0; !resend && i < PQntuples(res); i++)
		printf("%s %s (subject %s)%s\n", approve ? "approved" : "rejected", V(res, i, 0),
		       V(res, i, 1), approve ? "" : ": command.failed rejected_by_operator");
	if (!resend)
		printf("%s %d held command%s\n", approve ? "approved" : "rejected", PQntuples(res),
		       PQntuples(res) == 1 ? "" : "s");
	rc = held_wake(name, cfg, res);
	PQclear(res);
	return rc;
}

static int
held_run(const char *name, const struct cfg *cfg, struct db *db, void *opts)
{
	const struct held_opts *o = opts;

	return o->verb == HELD_LIST ? held_list(name, db) : held_verdict(name, cfg, db, o);
}

static int
held_main(enum held_verb verb, const char *name, int argc, char **argv)
{
	const struct clicmd cmd = {
	    .name = name,
	    .usage = HELD_USAGE,
	    .table = CLICFG_OPERATOR,
	    .flags = held_flags,
	    .run = held_run,
	};
	struct held_opts o = {.verb = verb};

	return clicmd_main(&cmd, &o, argc, argv);
}

int
cmd_held(int argc, char **argv)
{
	return held_main(HELD_LIST, "tmprov held", argc, argv);
}

int
cmd_approve(int argc, char **argv)
{
	return held_main(HELD_APPROVE, "tmprov approve", argc, argv);
}

int
cmd_reject(int argc, char **argv)
{
	return held_main(HELD_REJECT, "tmprov reject", argc, argv);
}
