/* clicfg: what the operator subcommands (send, import, status, replay, events) share at start-up:
 * their configuration (the database and Kafka keys of common/ and a log level), --help
 * detection, usage errors, times given on the command line, the database connection, and the
 * flag SIGINT/SIGTERM set to end a wait or a --follow early. */
#ifndef TMPROV_CLICFG_H
#define TMPROV_CLICFG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfgkeys.h"
#include "config.h"
#include "db.h"

/* Set by SIGINT or SIGTERM once clicfg_catch_signals() ran; a second signal exits at once. */
extern volatile sig_atomic_t clicfg_stop;

/* The CLI's configuration tables: the operator subcommands' (send, import, status, replay,
 * events: the database and Kafka keys, and a log level that defaults to error), migrate's (the
 * database keys and TMPROV_MIGRATIONS_DIR), reconcile's (the operator keys and TM's), and all
 * of them, for `tmprov --help-config`. */
enum clicfg_table { CLICFG_OPERATOR, CLICFG_MIGRATE, CLICFG_RECONCILE, CLICFG_ALL };

/* The table with every key at its default; NULL when out of memory. */
struct cfg *clicfg_new(enum clicfg_table t);

/* `tmprov --help-config[=mdoc]`: prints every key of every subcommand and exits 0 (2 on a
 * usage error). */
int clicfg_help_config(int argc, char **argv);

/* True when argv (before "--") holds --help or -h. */
bool clicfg_wants_help(int argc, char **argv);

/* The subcommand's configuration from --config FILE and the environment; handles
 * --print-config and --help-config (exit 0) and configuration errors (exit 2), as every tmprov
 * program does. name ("tmprov send") prefixes messages; argv[0] is replaced by it. Returns
 * NULL only when out of memory. *argc becomes the count of the arguments left. */
struct cfg *clicfg_load(const char *name, int *argc, char **argv);
/* The same with table t (clicfg_load: CLICFG_OPERATOR). */
struct cfg *clicfg_load_table(const char *name, enum clicfg_table t, int *argc, char **argv);

/* Prints "NAME: message" and the pointer to --help on stderr; returns 2 (usage). */
int clicfg_usage(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The value of --timeout (a duration above zero) into *ms: 0, or clicfg_usage's 2. */
int clicfg_timeout(const char *name, const char *arg, long *ms);

/* SIGINT and SIGTERM set clicfg_stop instead of killing the process. */
void clicfg_catch_signals(void);

/* A time on the command line: RFC 3339 ("2026-11-28T10:00:00Z", offsets allowed), a date
 * ("2026-11-28", midnight UTC) or a duration meaning that long ago ("90m", "2h", "3d" for
 * days). *ms: milliseconds since the epoch. 0, or -1 when s is none of these. */
int clicfg_parse_time(const char *s, long long *ms);

/* Connects to TMPROV_DATABASE_URL with the CLI's statements (clisql.h) prepared. quick: one
 * attempt, for a command that can go on without the database. NULL with err on failure. */
struct db *clicfg_db(const struct cfg *c, bool quick, char *err, size_t errlen);

/* A subcommand that reads its flags, then works on the database (status, held, approve,
 * reject, resolve, replay). */
struct clicmd {
	const char *name;  /* "tmprov status": prefixes messages */
	const char *usage; /* what --help prints */
	enum clicfg_table table;
	bool catch_signals; /* SIGINT/SIGTERM set clicfg_stop (a long wait or send) */
	/* argv after the configuration's flags into opts: 0, or clicfg_usage's 2 */
	int (*flags)(const char *name, int argc, char **argv, void *opts);
	/* the work: the exit status */
	int (*run)(const char *name, const struct cfg *cfg, struct db *db, void *opts);
};

/* --help, the configuration, c->flags, the database (its error as "NAME: error", exit 1), then
 * c->run; frees what it made. The exit status. */
int clicmd_main(const struct clicmd *c, void *opts, int argc, char **argv);

#endif
