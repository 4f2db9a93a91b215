/* bench_sql: pgbench scripts made from the statement tables of tmprov-worker and tmprov-callback,
 * which are compiled into tmprov from the programs' own sources (bench_wsql.c, bench_cbsql.c):
 * the pg-reference scenarios run exactly the SQL the programs run, and a statement that changes
 * its parameters without its script here stops the build of the script with an error naming
 * it (test_bench_smoke runs every script). */
#ifndef TMPROV_BENCH_SQL_H
#define TMPROV_BENCH_SQL_H

#include <stddef.h>

#include "bench_load.h"
#include "buf.h"
#include "db.h"

#define BENCH_SCRIPTS_MAX 8
#define BENCH_DEFINES_MAX 32
#define BENCH_SCRIPT_MAX  (256 * 1024) /* one script's text at most */

struct bench_script {
	char name[32]; /* e.g. "account.update" */
	char *text;    /* the pgbench script */
	long weight;   /* pgbench -f FILE@weight */
};

struct bench_sqlset {
	struct bench_script scripts[BENCH_SCRIPTS_MAX];
	size_t nscripts;
	char *defines[BENCH_DEFINES_MAX]; /* "name=value", pgbench -D */
	size_t ndefines;
};

void bench_sqlset_init(struct bench_sqlset *s);
void bench_sqlset_free(struct bench_sqlset *s);
/* Adds a script (text is taken, also on failure). 0 or -1 when full. */
int bench_sqlset_script(struct bench_sqlset *s, const char *name, long weight, char *text);
/* Adds -D name=value. 0 or -1 when full or out of memory. */
int bench_sqlset_define(struct bench_sqlset *s, const char *name, const char *value);

/* Appends st as one pgbench command ending in ";\n": each $N outside string literals replaced
 * by args[N-1] (an SQL expression over pgbench :variables; "NULL" for SQL NULL), and every
 * string literal holding a colon or a backslash re-spelt as an E'' literal with \x3a for the
 * colon, so that pgbench takes no :word inside a literal for a variable. Fails, naming the
 * statement, when st uses a parameter args leaves NULL or past nargs, or does not use one args
 * gives. 0, or -1 with err. */
int bench_sql_render(struct buf *out, const struct db_stmt *st, const char *const *args,
		     size_t nargs, char *err, size_t errlen);

/* The worker's statements for each kind of command of load l (weights: l's counts; the
 * password-setting kind has none: its cost is the hash). Variables the scripts need beside
 * pgbench's own: clients, subjects, meetings, n (bench_pg defines them). 0, or -1 with err. */
int bench_sql_worker(struct bench_sqlset *s, const struct bench_load *l, char *err, size_t errlen);
/* The callback's meeting-list statement for users u0..u(users-1) ("bench-<u>", "u<u>") as
 * tmprov-callback runs it with its default settings. 0, or -1 with err. */
int bench_sql_callback(struct bench_sqlset *s, long users, char *err, size_t errlen);

#endif
