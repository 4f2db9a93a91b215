/* db: one PostgreSQL connection running a program's table of prepared statements, in the shape
 * of OpenSMTPD's table-postgres: everything prepared on every connect, reconnect after a lost
 * connection (SQLSTATE class 08 or CONNECTION_BAD), PQclear on every path. */
#include "db.h"

#include "cfgkeys.h"
#include "clock.h"
#include "fwait.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct cfg_key *const DB_CONFIG_KEYS[] = {
    &KEY_TMPROV_DATABASE_URL,	    &KEY_TMPROV_DB_CONNECT_ATTEMPTS,  &KEY_TMPROV_DB_CONNECT_BUDGET,
    &KEY_TMPROV_DB_CONNECT_TIMEOUT, &KEY_TMPROV_DB_STATEMENT_TIMEOUT,
};
const size_t DB_CONFIG_NKEYS = CFG_KEYS_LEN(DB_CONFIG_KEYS);

/* Between connection attempts: 200 ms doubling up to 5 s, so a database that restarts is found
 * again within seconds without a crowd of workers hammering it in step. */
enum { DB_BACKOFF_BASE_MS = 200, DB_BACKOFF_CAP_MS = 5000 };

struct db {
	char *conninfo;
	const struct db_stmt *stmts;
	size_t n;
	int *nparams; /* per statement, as the server describes it after preparing */
	struct db_options opt;
	char *app;
	PGconn *conn;
	bool lost;  /* conn is unusable: reconnect before the next statement */
	bool in_tx; /* between a successful db_begin and db_commit/db_rollback */
	char sqlstate[6];
};

static void
db_set_state(struct db *db, const char *state)
{
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
}

/* libpq messages end in a newline and may span lines; logs want one line. */
static void
db_copy_message(char *out, size_t outlen, const char *prefix, const char *msg)
{
	size_t len;

	snprintf(out, outlen, "%s%s", prefix, msg && *msg ? msg : "unknown error");
	len = strlen(out);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	/* Folds each run of white space (libpq indents continuation lines) into one space. */
	for (char *r = out, *w = out;; r++) {
		if (*r == '\n' || *r == '\t' || *r == ' ') {
			if (w == out || w[-1] != ' ')
				*w++ = ' ';
			continue;
		}
		*w++ = *r;
		if (*r == '\0')
			break;
	}
}

static void
db_sleep_ms(long ms)
{
	/* An interrupted sleep just shortens this one delay; the caller's limits still hold. A
	 * fiber parks (fwait.h). */
	fwait_sleep_ms(ms);
}

void
db_options_default(struct db_options *o, const char *app)
{
	*o = (struct db_options){
	    .application_name = app,
	    .connect_timeout_ms = 5000,
	    .statement_timeout_ms = 10000,
	    .connect_attempts = 10,
	    .connect_budget_ms = 30000,
	    .backoff = {DB_BACKOFF_BASE_MS, DB_BACKOFF_CAP_MS},
	};
}

void
db_options_from_cfg(struct db_options *o, const struct cfg *c, const char *app)
{
	db_options_default(o, app);
	o->connect_timeout_ms = cfg_int(c, &KEY_TMPROV_DB_CONNECT_TIMEOUT);
	o->statement_timeout_ms = cfg_int(c, &KEY_TMPROV_DB_STATEMENT_TIMEOUT);
	o->connect_attempts = (unsigned)cfg_int(c, &KEY_TMPROV_DB_CONNECT_ATTEMPTS);
	o->connect_budget_ms = cfg_int(c, &KEY_TMPROV_DB_CONNECT_BUDGET);
}

struct db *
db_new(const char *conninfo, const struct db_stmt *stmts, size_t n)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->conninfo = strdup(conninfo ? conninfo : "");
	db->nparams = calloc(n ? n : 1, sizeof(*db->nparams));
	if (db->conninfo == NULL || db->nparams == NULL) {
		db_free(db);
		return NULL;
	}
	db->stmts = stmts;
	db->n = n;
	db->lost = true; /* not connected yet */
	db_options_default(&db->opt, NULL);
	return db;
}

int
db_set_options(struct db *db, const struct db_options *o)
{
	char *app = NULL;

	if (o->application_name != NULL && (app = strdup(o->application_name)) == NULL)
		return -1;
	free(db->app);
	db->app = app;
	db->opt = *o;
	db->opt.application_name = app;
	return 0;
}

static void
db_close(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
	db->lost = true;
	db->in_tx = false;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_close(db);
	free(db->conninfo);
	free(db->nparams);
	free(db->app);
	free(db);
}

/* libpq prints server notices ("relation exists, skipping") on stderr by default, which would
 * break the one-JSON-object-per-line log. */
static void
db_notice(void *arg, const PGresult *res)
{
	char msg[512];

	(void)arg;
	db_copy_message(msg, sizeof(msg), "", PQresultErrorMessage(res));
	log_debug("postgres: %s", msg);
}

static PGconn *
db_connect_once(struct db *db)
{
	/* A server that vanished without closing (a host gone, a black-holed path) must be noticed
	 * within about 10 s, idle or mid-statement: keepalives probe an idle connection after 4 s,
	 * then every 2 s, three times; tcp_user_timeout ends one whose sent data stays
	 * unacknowledged for 10 s. Defaults: a URL or connection string may set its own. */
	static const char *const tcp[][2] = {{"keepalives", "1"},
					     {"keepalives_idle", "4"},
					     {"keepalives_interval", "2"},
					     {"keepalives_count", "3"},
					     {"tcp_user_timeout", "10000"}};
	char timeout[32];
	const char *keys[10], *vals[10];
	int k = 0;

	/* Before dbname, so that the URL's own application_name and TCP settings win; after it,
	 * what must hold whatever the URL says: our timeout and UTF-8 (all our text is UTF-8). */
	keys[k] = "application_name";
	vals[k++] = db->app ? db->app : "tmprov";
	for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++) {
		keys[k] = tcp[i][0];
		vals[k++] = tcp[i][1];
	}
	keys[k] = "dbname";
	vals[k++] = db->conninfo;
	keys[k] = "client_encoding";
	vals[k++] = "UTF8";
	if (db->opt.connect_timeout_ms > 0) {
		snprintf(timeout, sizeof(timeout), "%ld",
			 (db->opt.connect_timeout_ms + 999) / 1000);
		keys[k] = "connect_timeout";
		vals[k++] = timeout;
	}
	keys[k] = NULL;
	vals[k] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

/* Classifies a failed result (res may be NULL) and fills err; marks the connection lost when
 * it is: SQLSTATE class 08, or libpq found the socket closed. */
static void
db_fail(struct db *db, const PGresult *res, const char *what, char *err, size_t errlen)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	char prefix[128];

	if (msg == NULL || *msg == '\0')
		msg = db->conn ? PQerrorMessage(db->conn) : "not connected";
	snprintf(prefix, sizeof(prefix), "%s%s", what ? what : "", what ? ": " : "");
	db_copy_message(err, errlen, prefix, msg);
	db_set_state(db, state);
	if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD ||
	    (state != NULL && strncmp(state, "08", 2) == 0)) {
		db->lost = true;
		if (state == NULL)
			db_set_state(db, "08006");
	}
}

/* Runs PQresult checks shared by every call: success passes the result through, anything else
 * is cleared and reported. */
static PGresult *
db_check(struct db *db, PGresult *res, const char *what, char *err, size_t errlen)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		db_set_state(db, "");
		return res;
	}
	db_fail(db, res, what, err, errlen);
	PQclear(res);
	return NULL;
}

/* Planner settings of every session. All of tmprov's statements reach rows through keys. On a
 * new database PostgreSQL plans them, and the foreign-key checks they fire, while the tables are
 * still empty, caches those plans for the life of the connection and keeps scanning whole tables
 * as they grow, until autovacuum's next ANALYZE: with make bench's fresh databases that halved
 * the worker's throughput. With sequential scans off, one is planned only where no index
 * applies. */
static const char *const DB_PLANNER_SETTINGS[][2] = {{"enable_seqscan", "off"}};
#define DB_NPLANNER (sizeof(DB_PLANNER_SETTINGS) / sizeof(DB_PLANNER_SETTINGS[0]))

/* The server's side of a vanished client: its backend would otherwise keep the session — and the
 * advisory locks it holds, such as the outbox publisher's — for the kernel's two hours. The same
 * bounds as the client's (db_connect_once); ignored on a Unix socket. */
static const char *const DB_SERVER_TCP_SETTINGS[][2] = {{"tcp_keepalives_idle", "4"},
							{"tcp_keepalives_interval", "2"},
							{"tcp_keepalives_count", "3"},
							{"tcp_user_timeout", "10000"}};
#define DB_NSERVER_TCP (sizeof(DB_SERVER_TCP_SETTINGS) / sizeof(DB_SERVER_TCP_SETTINGS[0]))

int
db_planner_pgoptions(char *out, size_t outlen)
{
	size_t used = 0;
	int n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < DB_NPLANNER; i++) {
		n = snprintf(out + used, outlen - used, "%s-c %s=%s", used ? " " : "",
			     DB_PLANNER_SETTINGS[i][0], DB_PLANNER_SETTINGS[i][1]);
		if (n < 0 || (size_t)n >= outlen - used)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

/* set_config() rather than SET so that values travel as parameters. */
static int
db_set_config(struct db *db, const char *name, const char *value, char *err, size_t errlen)
{
	const char *params[2] = {name, value};
	PGresult *res;

	res = PQexecParams(db->conn, "SELECT set_config($1, $2, false)", 2, NULL, params, NULL,
			   NULL, 0);
	res = db_check(db, res, name, err, errlen);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static int
db_session_setup(struct db *db, char *err, size_t errlen)
{
	char ms[32];
	PGresult *res;

	snprintf(ms, sizeof(ms), "%ld", db->opt.statement_timeout_ms);
	if (db_set_config(db, "statement_timeout", ms, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < DB_NPLANNER; i++)
		if (db_set_config(db, DB_PLANNER_SETTINGS[i][0], DB_PLANNER_SETTINGS[i][1], err,
				  errlen) != 0)
			return -1;
	for (size_t i = 0; i < DB_NSERVER_TCP; i++)
		if (db_set_config(db, DB_SERVER_TCP_SETTINGS[i][0], DB_SERVER_TCP_SETTINGS[i][1],
				  err, errlen) != 0)
			return -1;
	for (size_t i = 0; i < db->n; i++) {
		res =
		    db_check(db, PQprepare(db->conn, db->stmts[i].name, db->stmts[i].sql, 0, NULL),
			     db->stmts[i].name, err, errlen);
		if (res == NULL)
			return -1;
		PQclear(res);
		/* The server's parameter count catches a caller passing too few or too many. */
		res = db_check(db, PQdescribePrepared(db->conn, db->stmts[i].name),
			       db->stmts[i].name, err, errlen);
		if (res == NULL)
			return -1;
		db->nparams[i] = PQnparams(res);
		PQclear(res);
	}
	return 0;
}

int
db_connect(struct db *db, char *err, size_t errlen)
{
	long start = clock_now_ms(), delay;
	char where[256];

	db_close(db);
	for (unsigned attempt = 0;; attempt++) {
		db->conn = db_connect_once(db);
		if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
			break;
		db_conninfo_redact(db->conninfo, where, sizeof(where));
		snprintf(err, errlen, "connect to %s failed after %u attempt%s: ", where,
			 attempt + 1, attempt ? "s" : "");
		db_copy_message(err + strlen(err), errlen - strlen(err), "",
				db->conn ? PQerrorMessage(db->conn) : "out of memory");
		db_close(db);
		db_set_state(db, "08001");
		if (db->opt.connect_attempts > 0 && attempt + 1 >= db->opt.connect_attempts)
			return -1;
		delay = backoff_delay_ms(&db->opt.backoff, attempt);
		if (db->opt.connect_budget_ms > 0 &&
		    clock_now_ms() - start + delay > db->opt.connect_budget_ms)
			return -1;
		db_sleep_ms(delay);
	}
	PQsetNoticeReceiver(db->conn, db_notice, NULL);
	if (db_session_setup(db, err, errlen) != 0) {
		db_close(db);
		return -1;
	}
	db->lost = false;
	db_set_state(db, "");
	return 0;
}

/* Makes sure there is a connection to run on. Reconnecting inside a transaction would run the
 * rest of it outside one, so there it is an error until the caller rolls back. */
static int
db_ready(struct db *db, char *err, size_t errlen)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_BAD)
		db->lost = true;
	if (!db->lost)
		return 0;
	if (db->in_tx) {
		snprintf(err, errlen, "connection lost inside a transaction: it was rolled back");
		db_set_state(db, "08006");
		return -1;
	}
	return db_connect(db, err, errlen);
}

/* The checks of a call before it is sent; the parameter count needs the prepared statements, so
 * a connection first. 0, or -1 with err set. */
static int
db_call_check(struct db *db, int stmt, int nparams, const char *const *params, char *err,
	      size_t errlen)
{
	if (stmt < 0 || (size_t)stmt >= db->n) {
		snprintf(err, errlen, "no statement %d (the table has %zu)", stmt, db->n);
		return -1;
	}
	if (nparams < 0 || (nparams > 0 && params == NULL)) {
		snprintf(err, errlen, "%s: bad parameter list", db->stmts[stmt].name);
		return -1;
	}
	if (db_ready(db, err, errlen) != 0)
		return -1;
	if (nparams != db->nparams[stmt]) {
		snprintf(err, errlen, "%s: takes %d parameters, given %d", db->stmts[stmt].name,
			 db->nparams[stmt], nparams);
		return -1;
	}
	return 0;
}

PGresult *
db_exec(struct db *db, int stmt, int nparams, const char *const *params, char *err, size_t errlen)
{
	PGresult *res;

	db_set_state(db, "");
	if (db_call_check(db, stmt, nparams, params, err, errlen) != 0)
		return NULL;
	res = PQexecPrepared(db->conn, db->stmts[stmt].name, nparams, params, NULL, NULL, 0);
	return db_check(db, res, db->stmts[stmt].name, err, errlen);
}

/* Reads the answers of db_exec_atomic's n statements and its sync. 0 when every statement
 * succeeded (results set), -1 otherwise (err from the first failure). */
static int
db_atomic_results(struct db *db, const struct db_call *calls, size_t n, PGresult **results,
		  char *err, size_t errlen)
{
	char spare[64]; /* for failures after the first, which err keeps */
	int rc = 0;
	PGresult *res;

	for (size_t i = 0; i < n; i++) {
		res = PQgetResult(db->conn);
		if (res == NULL) { /* the connection broke */
			db_fail(db, NULL, "atomic", err, errlen);
			return -1;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) /* after a failure */
			PQclear(res);
		else if ((results[i] = db_check(db, res, db->stmts[calls[i].stmt].name,
						rc ? spare : err, rc ? sizeof(spare) : errlen)) ==
			 NULL)
			rc = -1;
		/* Each statement's results end with a NULL. */
		while ((res = PQgetResult(db->conn)) != NULL)
			PQclear(res);
	}
	res = PQgetResult(db->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == 0) {
		db_fail(db, res, "sync", err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
db_exec_atomic(struct db *db, const struct db_call *calls, size_t n, PGresult **results, char *err,
	       size_t errlen)
{
	bool sent = false;

	db_set_state(db, "");
	for (size_t i = 0; i < n; i++)
		results[i] = NULL;
	if (db->in_tx) {
		snprintf(err, errlen, "atomic: inside a transaction");
		db_set_state(db, "25001");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (db_call_check(db, calls[i].stmt, calls[i].nparams, calls[i].params, err,
				  errlen) != 0)
			return -1;
	if (PQenterPipelineMode(db->conn) != 1) {
		db_fail(db, NULL, "atomic", err, errlen);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (PQsendQueryPrepared(db->conn, db->stmts[calls[i].stmt].name, calls[i].nparams,
					calls[i].params, NULL, NULL, 0) != 1)
			goto fail;
	if (PQpipelineSync(db->conn) != 1)
		goto fail;
	sent = true;
	if (db_atomic_results(db, calls, n, results, err, errlen) != 0)
		goto out;
	/* Committed. A session that cannot leave pipeline mode is of no further use: the next
	 * call reconnects. */
	if (PQexitPipelineMode(db->conn) != 1)
		db->lost = true;
	return 0;
fail:
	db_fail(db, NULL, "atomic", err, errlen);
out:
	if (PQstatus(db->conn) == CONNECTION_BAD) /* found out while reading the sync */
		db->lost = true;
	if (!db->lost)
		PQexitPipelineMode(db->conn);
	else if (sent) {
		snprintf(err, errlen, "atomic: connection lost: outcome unknown");
		db_set_state(db, "08007");
	}
	for (size_t i = 0; i < n; i++) {
		PQclear(results[i]);
		results[i] = NULL;
	}
	return -1;
}

int
db_exec_simple(struct db *db, const char *sql, char *err, size_t errlen)
{
	PGresult *res;

	db_set_state(db, "");
	if (db_ready(db, err, errlen) != 0)
		return -1;
	res = db_check(db, PQexec(db->conn, sql), NULL, err, errlen);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
db_begin(struct db *db, char *err, size_t errlen)
{
	if (db->in_tx) {
		snprintf(err, errlen, "begin: already inside a transaction");
		db_set_state(db, "25001");
		return -1;
	}
	if (db_exec_simple(db, "BEGIN", err, errlen) != 0)
		return -1;
	db->in_tx = true;
	return 0;
}

int
db_commit(struct db *db, char *err, size_t errlen)
{
	PGresult *res;
	int rc = -1;

	db_set_state(db, "");
	if (!db->in_tx) {
		snprintf(err, errlen, "commit: no transaction");
		db_set_state(db, "25000");
		return -1;
	}
	if (db_ready(db, err, errlen) != 0)
		goto out;
	res = db_check(db, PQexec(db->conn, "COMMIT"), "commit", err, errlen);
	if (res == NULL) {
		if (db->lost) {
			snprintf(err, errlen, "commit: connection lost: outcome unknown");
			db_set_state(db, "08007");
		}
		goto out;
	}
	/* COMMIT of a failed transaction "succeeds" with the tag ROLLBACK. */
	if (strcmp(PQcmdStatus(res), "COMMIT") == 0)
		rc = 0;
	else {
		snprintf(err, errlen, "commit: the transaction had failed and was rolled back");
		db_set_state(db, "25P02");
	}
	PQclear(res);
out:
	db->in_tx = false;
	return rc;
}

int
db_rollback(struct db *db, char *err, size_t errlen)
{
	PGresult *res;
	bool was = db->in_tx;

	db->in_tx = false;
	db_set_state(db, "");
	/* Nothing to undo, or the server already discarded it with the connection. */
	if (!was || db->lost || db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD)
		return 0;
	res = db_check(db, PQexec(db->conn, "ROLLBACK"), "rollback", err, errlen);
	if (res == NULL)
		return db->lost ? 0 : -1;
	PQclear(res);
	return 0;
}

bool
db_connection_lost(const struct db *db)
{
	return db->lost;
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

PGconn *
db_conn(struct db *db)
{
	return db->lost ? NULL : db->conn;
}

void
db_conninfo_redact(const char *conninfo, char *out, size_t outlen)
{
	static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user"};
	PQconninfoOption *opts;
	char *msg = NULL;
	size_t len = 0;

	opts = PQconninfoParse(conninfo ? conninfo : "", &msg);
	if (opts == NULL) {
		snprintf(out, outlen, "(unparseable)");
		PQfreemem(msg);
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, shown[i]) == 0 && o->val != NULL && *o->val &&
			    len < outlen)
				len += snprintf(out + len, outlen - len, "%s%s=%s", len ? " " : "",
						o->keyword, o->val);
	if (out[0] == '\0')
		snprintf(out, outlen, "(libpq defaults)");
	PQconninfoFree(opts);
}

/* key='value' with ' and \ escaped, as libpq's connection strings want. */
static int
db_conninfo_append(char *out, size_t outlen, size_t *len, const char *key, const char *val)
{
	int n = snprintf(out + *len, outlen - *len, "%s%s='", *len ? " " : "", key);

	if (n < 0 || (size_t)n >= outlen - *len)
		return -1;
	*len += (size_t)n;
	for (const char *p = val; *p; p++) {
		if (*len + 3 >= outlen)
			return -1;
		if (*p == '\'' || *p == '\\')
			out[(*len)++] = '\\';
		out[(*len)++] = *p;
	}
	if (*len + 2 >= outlen)
		return -1;
	out[(*len)++] = '\'';
	out[*len] = '\0';
	return 0;
}

int
db_conninfo_dbname(const char *base, const char *dbname, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	PQconninfoOption *opts;
	char *msg = NULL;
	size_t len = 0;
	int rc = 0;

	opts = PQconninfoParse(base ? base : "", &msg);
	if (opts == NULL) {
		snprintf(err, errlen, "%s", msg ? msg : "unparseable connection string");
		PQfreemem(msg);
		return -1;
	}
	out[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword != NULL && rc == 0; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			rc = db_conninfo_append(out, outlen, &len, o->keyword, o->val);
	if (rc == 0)
		rc = db_conninfo_append(out, outlen, &len, "dbname", dbname);
	if (rc != 0)
		snprintf(err, errlen, "connection string too long");
	PQconninfoFree(opts);
	return rc;
}
