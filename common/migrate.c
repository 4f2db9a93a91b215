/* migrate: brings a database up to the numbered SQL files of a directory, each applied once, in
 * order, in its own transaction, recorded with its sha256 in schema_migrations. */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cfgkeys.h"

const struct cfg_key *const MIGRATE_CONFIG_KEYS[] = {
    &KEY_TMPROV_MIGRATIONS_DIR,
};
const size_t MIGRATE_CONFIG_NKEYS = CFG_KEYS_LEN(MIGRATE_CONFIG_KEYS);

/* Limits on what a directory may hold: a migration is hand-written SQL, so anything beyond
 * these is a mistake (a dump copied into the folder), not a migration. */
enum { MIGRATE_MAX_FILES = 10000, MIGRATE_MAX_BYTES = 4 << 20, MIGRATE_MAX_DIGITS = 9 };

/* The session advisory lock every run takes: "tmprov" in ASCII, so that it is recognisable in
 * pg_locks and unlikely to collide with another application's key. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_lock(128047219978102)"

/* Created by the lock holder before the statements below are prepared (they need the table). */
#define MIGRATE_TABLE_SQL                                                                          \
	"CREATE TABLE IF NOT EXISTS schema_migrations ("                                           \
	" version integer PRIMARY KEY CHECK (version >= 0),"                                       \
	" name text NOT NULL UNIQUE,"                                                              \
	" checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"                             \
	" applied_at timestamptz NOT NULL DEFAULT now())"

enum migrate_stmt { M_APPLIED, M_RECORD, M_NSTMTS };

static const struct db_stmt MIGRATE_STMTS[M_NSTMTS] = {
    [M_APPLIED] = {"migrate_applied",
		   "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC',"
		   " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version"},
    [M_RECORD] = {"migrate_record", "INSERT INTO schema_migrations (version, name, checksum)"
				    " VALUES ($1::integer, $2, $3)"},
};

struct mfile {
	long version;
	char *name;
	char *sql;
	char checksum[crypto_hash_sha256_BYTES * 2 + 1];
	bool applied;
	char applied_at[32];
};

struct mset {
	struct mfile *f;
	size_t n;
};

static void
mset_free(struct mset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].name);
		free(s->f[i].sql);
	}
	free(s->f);
	s->f = NULL;
	s->n = 0;
}

/* NNN_name.sql: at least three digits, an underscore, a name of letters, digits, '_' or '-'.
 * Returns the version or -1. */
static long
migrate_parse_name(const char *name)
{
	size_t digits = 0, len = strlen(name), rest;

	while (isdigit((unsigned char)name[digits]))
		digits++;
	if (digits < 3 || digits > MIGRATE_MAX_DIGITS || name[digits] != '_')
		return -1;
	if (len < digits + 6 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	rest = len - 4;
	for (size_t i = digits + 1; i < rest; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
			return -1;
	return strtol(name, NULL, 10);
}

/* Whether a directory entry is meant as a migration: a .sql file, or a name starting with a
 * digit (so that "002_x.sq" is an error, not silently skipped). Others (README) are ignored. */
static bool
migrate_is_candidate(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	return isdigit((unsigned char)name[0]) || (len >= 4 && strcmp(name + len - 4, ".sql") == 0);
}

static int
migrate_read(const char *dir, struct mfile *m, char *err, size_t errlen)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	char *path = NULL;
	FILE *f = NULL;
	struct stat st;
	int rc = -1;

	if (asprintf(&path, "%s/%s", dir, m->name) < 0) {
		path = NULL;
		snprintf(err, errlen, "%s: out of memory", m->name);
		goto out;
	}
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > MIGRATE_MAX_BYTES) {
		snprintf(err, errlen, "%s: too large (%lld bytes, at most %d)", path,
			 (long long)st.st_size, MIGRATE_MAX_BYTES);
		goto out;
	}
	m->sql = malloc((size_t)st.st_size + 1);
	if (m->sql == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (fread(m->sql, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: short read", path);
		goto out;
	}
	m->sql[st.st_size] = '\0';
	/* The SQL goes to the server as a C string: a NUL would silently cut it short. */
	if (strlen(m->sql) != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	crypto_hash_sha256(hash, (const unsigned char *)m->sql, (unsigned long long)st.st_size);
	sodium_bin2hex(m->checksum, sizeof(m->checksum), hash, sizeof(hash));
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(path);
	return rc;
}

static int
migrate_cmp(const void *a, const void *b)
{
	const struct mfile *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static int
migrate_add(struct mset *s, const char *dir, const char *name, char *err, size_t errlen)
{
	struct mfile *m;
	long version = migrate_parse_name(name);

	if (version < 0) {
		snprintf(err, errlen, "%s/%s: not a migration name (want NNN_name.sql)", dir, name);
		return -1;
	}
	if (s->n == MIGRATE_MAX_FILES) {
		snprintf(err, errlen, "%s: too many files (at most %d)", dir, MIGRATE_MAX_FILES);
		return -1;
	}
	m = realloc(s->f, (s->n + 1) * sizeof(*s->f));
	if (m == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	s->f = m;
	m = &s->f[s->n];
	*m = (struct mfile){.version = version, .name = strdup(name)};
	if (m->name == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	s->n++;
	return migrate_read(dir, m, err, errlen);
}

/* Reads every migration of dir, sorted by version; any bad name or duplicate version fails the
 * whole directory, before the database is touched. */
static int
migrate_scan(const char *dir, struct mset *s, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = -1;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (migrate_is_candidate(e->d_name) &&
		    migrate_add(s, dir, e->d_name, err, errlen) != 0)
			goto out;
	qsort(s->f, s->n, sizeof(*s->f), migrate_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (s->f[i].version == s->f[i - 1].version) {
			snprintf(err, errlen, "%s: %s and %s have the same version", dir,
				 s->f[i - 1].name, s->f[i].name);
			goto out;
		}
	rc = 0;
out:
	closedir(d);
	return rc;
}

static struct mfile *
migrate_find(struct mset *s, long version)
{
	struct mfile key = {.version = version};

	return bsearch(&key, s->f, s->n, sizeof(*s->f), migrate_cmp);
}

/* Matches the recorded migrations against the files: each must still be there, unchanged. */
static int
migrate_check_applied(struct db *db, struct mset *s, const char *dir, char *err, size_t errlen)
{
	PGresult *res = db_exec(db, M_APPLIED, 0, NULL, err, errlen);
	long last = -1;
	int rc = -1;

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		long version = strtol(PQgetvalue(res, i, 0), NULL, 10);
		const char *name = PQgetvalue(res, i, 1);
		struct mfile *m = migrate_find(s, version);

		if (m == NULL) {
			snprintf(err, errlen, "%s was applied but is missing from %s", name, dir);
			goto out;
		}
		if (strcmp(m->name, name) != 0 || strcmp(m->checksum, PQgetvalue(res, i, 2)) != 0) {
			snprintf(err, errlen,
				 "%s was changed after it was applied as %s (checksum %.12s…, now "
				 "%.12s…): restore it and put the change in a new migration",
				 m->name, name, PQgetvalue(res, i, 2), m->checksum);
			goto out;
		}
		m->applied = true;
		snprintf(m->applied_at, sizeof(m->applied_at), "%s", PQgetvalue(res, i, 3));
		last = version;
	}
	/* A new file numbered below an applied one would run after the later migration it was
	 * meant to precede; renumbering it is the author's call, not ours. */
	for (size_t i = 0; i < s->n; i++)
		if (!s->f[i].applied && s->f[i].version < last) {
			snprintf(err, errlen,
				 "%s is pending but a later migration is already applied",
				 s->f[i].name);
			goto out;
		}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static int
migrate_apply_one(struct db *db, struct mfile *m, char *err, size_t errlen)
{
	char version[16], inner[1024];
	const char *params[3] = {version, m->name, m->checksum};
	PGresult *res = NULL;

	snprintf(version, sizeof(version), "%ld", m->version);
	if (db_begin(db, inner, sizeof(inner)) != 0)
		goto fail;
	if (db_exec_simple(db, m->sql, inner, sizeof(inner)) != 0)
		goto fail;
	/* A file that ran COMMIT or ROLLBACK itself has escaped the transaction we promised. */
	if (PQtransactionStatus(db_conn(db)) != PQTRANS_INTRANS) {
		snprintf(inner, sizeof(inner),
			 "it ended the transaction itself (no BEGIN/COMMIT in "
			 "a migration); it was not recorded");
		goto fail;
	}
	res = db_exec(db, M_RECORD, 3, params, inner, sizeof(inner));
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (db_commit(db, inner, sizeof(inner)) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", m->name, inner);
	db_rollback(db, inner, sizeof(inner));
	return -1;
}

static void
migrate_print(const struct migrate_opts *o, const char *what, const struct mfile *m)
{
	if (o->out == NULL)
		return;
	if (m->applied && o->mode == MIGRATE_STATUS)
		fprintf(o->out, "%-11s %s %s\n", what, m->name, m->applied_at);
	else
		fprintf(o->out, "%-11s %s\n", what, m->name);
}

static int
migrate_act(const struct migrate_opts *o, struct db *db, struct mset *s, struct migrate_report *rep,
	    char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n; i++) {
		struct mfile *m = &s->f[i];

		if (m->applied) {
			if (o->mode == MIGRATE_STATUS)
				migrate_print(o, "applied", m);
			continue;
		}
		if (o->mode != MIGRATE_APPLY) {
			migrate_print(o, o->mode == MIGRATE_STATUS ? "pending" : "would apply", m);
			rep->pending++;
			continue;
		}
		if (migrate_apply_one(db, m, err, errlen) != 0) {
			rep->pending += s->n - i;
			return -1;
		}
		m->applied = true;
		rep->applied++;
		migrate_print(o, "applied", m);
	}
	return 0;
}

static int
migrate_connect(const struct migrate_opts *o, struct db *db, char *err, size_t errlen)
{
	struct db_options opt;

	if (o->db != NULL)
		opt = *o->db;
	else
		db_options_default(&opt, NULL);
	if (opt.application_name == NULL)
		opt.application_name = "tmprov-migrate";
	/* No statement timeout: the lock wait lasts as long as a concurrent run, and DDL on a
	 * large table as long as it must. */
	opt.statement_timeout_ms = 0;
	if (db_set_options(db, &opt) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return db_connect(db, err, errlen);
}

int
migrate_default_dir(char *out, size_t outlen)
{
	/* Relative to the folder of the running program: installed (PREFIX/bin beside
	 * PREFIX/share), then a source tree's bin/ and build-san/bin/. */
	static const char *const candidates[] = {"../share/tmprov/migrations", "../migrations",
						 "../../migrations"};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	struct stat st;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		int len = snprintf(out, outlen, "%s/%s", exe, candidates[i]);

		if (len > 0 && (size_t)len < outlen && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
	}
	return -1;
}

int
migrate_run(const struct migrate_opts *o, struct migrate_report *rep, char *err, size_t errlen)
{
	struct migrate_report dummy;
	struct mset set = {0};
	struct db *lock = NULL, *db = NULL;
	char found[PATH_MAX];
	const char *dir = o->dir;
	int rc = -1;

	rep = rep ? rep : &dummy;
	*rep = (struct migrate_report){0};
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	if (dir == NULL) {
		if (migrate_default_dir(found, sizeof(found)) != 0) {
			snprintf(err, errlen,
				 "no migrations directory beside the program (../share/tmprov/"
				 "migrations); set TMPROV_MIGRATIONS_DIR");
			return -1;
		}
		dir = found;
	}
	if (migrate_scan(dir, &set, err, errlen) != 0)
		goto out;
	rep->files = set.n;
	/* Two connections: the lock holder creates schema_migrations, which must exist before
	 * the working connection can prepare its statements. The lock lives as long as the
	 * holder's session, so a run that dies releases it. */
	lock = db_new(o->conninfo, NULL, 0);
	db = db_new(o->conninfo, MIGRATE_STMTS, M_NSTMTS);
	if (lock == NULL || db == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (migrate_connect(o, lock, err, errlen) != 0 ||
	    db_exec_simple(lock, MIGRATE_LOCK_SQL, err, errlen) != 0 ||
	    db_exec_simple(lock, MIGRATE_TABLE_SQL, err, errlen) != 0)
		goto out;
	if (migrate_connect(o, db, err, errlen) != 0)
		goto out;
	if (migrate_check_applied(db, &set, dir, err, errlen) != 0)
		goto out;
	rc = migrate_act(o, db, &set, rep, err, errlen);
out:
	db_free(db);
	db_free(lock);
	mset_free(&set);
	return rc;
}
