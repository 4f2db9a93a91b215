/* migrate: brings a database up to the numbered SQL files of a directory (NNN_name.sql), each
 * applied once, in order, in its own transaction, recorded with its checksum in
 * schema_migrations; refuses to go on when an applied file was changed or removed. */
#ifndef TMPROV_MIGRATE_H
#define TMPROV_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "db.h"

/* TMPROV_MIGRATIONS_DIR: the directory of NNN_name.sql files. */
extern const struct cfg_key *const MIGRATE_CONFIG_KEYS[];
extern const size_t MIGRATE_CONFIG_NKEYS;

enum migrate_mode {
	MIGRATE_APPLY,	 /* apply what is pending */
	MIGRATE_DRY_RUN, /* check, and list what would be applied */
	MIGRATE_STATUS,	 /* check, and list every file as applied or pending */
};

struct migrate_opts {
	const char *conninfo;
	const struct db_options *db; /* NULL: db_options_default; statement_timeout is ignored */
	const char *dir;	     /* NULL: migrate_default_dir's */
	enum migrate_mode mode;
	FILE *out; /* one line per file acted on or listed; NULL: quiet */
};

struct migrate_report {
	size_t files;	/* migration files in the directory */
	size_t applied; /* applied by this run */
	size_t pending; /* still pending when the run ended */
};

/* The migrations folder found beside the running program: ../share/tmprov/migrations (an
 * installation), else ../migrations or ../../migrations (a source tree's bin/, build-san/bin/).
 * Returns 0 with the path in out, or -1 when there is none. */
int migrate_default_dir(char *out, size_t outlen);

/* Checks the directory (every *.sql or digit-led name must be NNN_name.sql, versions unique)
 * before touching the database; then, holding a session advisory lock so that concurrent runs
 * take turns, checks applied files against their recorded checksums and acts per mode. On a
 * failure returns -1 with err naming the file; files applied before it stay applied. rep may be
 * NULL. */
int migrate_run(const struct migrate_opts *o, struct migrate_report *rep, char *err, size_t errlen);

#endif
