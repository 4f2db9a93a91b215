/* cbtest: what tmprov-callback's tests share — the program started as a child process on free
 * ports against a test database, raw HTTP/1.1 to it, rows seeded with the SQL the worker uses,
 * answers read back with libxml2, and the test cluster stopped and started with pg_ctl. */
#ifndef TMPROV_CBTEST_H
#define TMPROV_CBTEST_H

#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>
#include <libxml/tree.h>

/* What every started instance is configured with unless the test overrides it. */
#define CBTEST_PARTNER	  "partner-test-1"
#define CBTEST_PUBLIC_URL "https://cb.partner.example/base"
#define CBTEST_TM_URL	  "https://tm.example:8443"

struct cbproc {
	pid_t pid;
	int port;
	int admin_port;
	char dir[512]; /* scratch folder: port files and log */
	char log[600]; /* the child's stdout + stderr */
};

/* Starts bin/tmprov-callback on 127.0.0.1:0 against conninfo. env: NULL-terminated "KEY=value"
 * overrides of the defaults (cheap argon2id, sha256-hex credentials, the CBTEST_* values), or
 * NULL. Every TMPROV_ variable of the test's own environment is left out. Fails the test when
 * the program does not report its ports within 20 s. */
void cbproc_start(struct cbproc *p, const char *conninfo, const char *const *env);
/* SIGTERM, then waits (up to 20 s, then SIGKILL). Returns the exit status, or -1 if killed. */
int cbproc_stop(struct cbproc *p);
/* Waits (up to 20 s, then SIGKILL) for a program told to stop; its exit status or -1. */
int cbproc_wait(struct cbproc *p);
/* Runs the program to its end (it should refuse to start) and returns its exit status. */
int cbproc_run(const char *conninfo, const char *const *env);
/* 1 if the log holds needle. */
int cbproc_log_contains(const struct cbproc *p, const char *needle);

struct cbhttp {
	int status; /* 0: no status line (connection closed first) */
	char *head; /* status line and headers */
	char *body;
	size_t body_len;
	double seconds; /* from connect to the end of the answer */
};

/* Connects to 127.0.0.1:port; the socket, or fails the test. */
int cbtcp_connect(int port);
/* The same from the loopback address src ("127.0.0.2"; NULL: any), the peer the server sees. */
int cbtcp_connect_from(const char *src, int port);
/* Sends raw as is and reads until the server closes (at most timeout_ms). 0, or -1 when the
 * timeout passed first. */
int cbhttp_raw(int port, const char *raw, size_t rawlen, struct cbhttp *out, int timeout_ms);
/* The same from the loopback address src (see cbtcp_connect_from). */
int cbhttp_raw_from(const char *src, int port, const char *raw, size_t rawlen, struct cbhttp *out,
		    int timeout_ms);
/* GET / POST (form body, ctype may be NULL for the form type) with Connection: close. Fail the
 * test when no answer came within 15 s. */
void cbhttp_get(int port, const char *path, struct cbhttp *out);
void cbhttp_method(int port, const char *method, const char *path, struct cbhttp *out);
void cbhttp_post(int port, const char *path, const char *ctype, const char *body,
		 struct cbhttp *out);
/* A header's value (first match, case-insensitive name) copied into out, or NULL. */
const char *cbhttp_header(const struct cbhttp *r, const char *name, char *out, size_t outlen);
void cbhttp_free(struct cbhttp *r);

/* /tm/auth?email=…&password=…&service_company_uid=… with each value URL-encoded; NULL leaves a
 * parameter out. cbtest_auth_path writes the path only (fails the test when it does not fit). */
void cbtest_auth_path(char *path, size_t pathlen, const char *email, const char *credential,
		      const char *partner);
void cbhttp_auth(int port, const char *email, const char *credential, const char *partner,
		 struct cbhttp *out);

/* The credential TM sends for password (sha256-hex, the default scheme): 64 hex digits. */
void cbtest_credential(const char *password, char out[65]);
/* Runs sql with text parameters (NULL-terminated list after sql); fails the test on error. */
void cbsql(PGconn *conn, const char *sql, ...);
/* As cbsql, returning the first column of the first row (malloc'd) or NULL. */
char *cbsql_value(PGconn *conn, const char *sql, ...);

/* Seeds rows as tmprov-worker writes them. */
void cbseed_account(PGconn *conn, const char *subject, const char *company_uid);
void cbseed_user(PGconn *conn, const char *subject, const char *user_id, const char *email,
		 const char *first, const char *last, const char *password);
/* start: a PostgreSQL timestamptz expression, e.g. "'2099-01-02 03:04+00'" or
 * "now() - interval '2 hours'". */
void cbseed_meeting(PGconn *conn, const char *meeting_id, const char *subject, const char *user_id,
		    const char *topic, const char *start, const char *join_url);

/* Parses an answer as XML (no network, no DTD, no entity expansion); fails the test if it is
 * not well-formed. Free with xmlFreeDoc. */
xmlDocPtr cbxml_parse(const struct cbhttp *r);
/* Asserts node's element children are exactly names (NULL-terminated), in that order. */
void cbxml_expect_children(xmlNodePtr node, const char *const *names);
/* The element child called name (the first), or NULL. */
xmlNodePtr cbxml_child(xmlNodePtr node, const char *name);
/* The text of node's child called name, compared with want; fails the test otherwise. */
void cbxml_expect_text(xmlNodePtr node, const char *name, const char *want);
/* Status and Reason of a <__Return__> answer into the caller's buffers. */
void cbxml_status(const struct cbhttp *r, char *status, size_t slen, char *reason, size_t rlen);

/* pg_ctl (tprog) on the test cluster (TMPROV_PG_DATA; as postgres when root): "stop",
 * "start" (with the options it last ran with) or "restart". Fails the test on error. */
void cbpg_ctl(const char *action);

/* The answers to a storm of logins (cbstorm_run). */
struct cbstorm {
	int credentials; /* FAILED "invalid email or password" */
	int throttled;	 /* FAILED "too many failed logins, try again later" */
	int other;	 /* anything else (no answer included) */
	double seconds;	 /* wall time of the whole storm */
};

/* n logins of email with credential, sent by `clients` threads at once (released together, one
 * connection per login), answers counted into out. */
void cbstorm_run(int port, const char *email, const char *credential, int n, int clients,
		 struct cbstorm *out);

/* Reads a metric sample ("name{labels}" exactly as rendered) from the admin port; 0 if absent. */
double cbmetric(int admin_port, const char *series);

#endif
