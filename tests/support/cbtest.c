/* cbtest: helpers for the tmprov-callback tests (see cbtest.h). Everything that can go wrong
 * fails the calling test with a message: these are test fixtures, not library code. */
#include "cbtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <sodium.h>

#include "password.h"
#include "clock.h"
#include "tprog.h"

extern char **environ;

static int cbtest_seq;

static void
cbtest_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *
cbtest_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s is not set (run under tests/run-tests)", name);
	return v;
}

/* ---- the program as a child process ---- */

#define CBTEST_MAX_ENV 512

/* Sets KEY=value in envp (replacing an entry with the same key). */
static void
cbtest_env_put(char **envp, int *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (int i = 0; i < *n; i++)
		if (strncmp(envp[i], kv, klen) == 0 && envp[i][klen] == '=') {
			envp[i] = (char *)kv;
			return;
		}
	if (*n + 1 >= CBTEST_MAX_ENV)
		fail_msg("cbtest: environment too large");
	envp[(*n)++] = (char *)kv;
	envp[*n] = NULL;
}

static void
cbtest_envp(char **envp, char *dburl, const char *const *extra)
{
	static const char *const defaults[] = {
	    "TMPROV_PARTNER_ID=" CBTEST_PARTNER, "TMPROV_PUBLIC_URL=" CBTEST_PUBLIC_URL,
	    "TMPROV_TM_URL=" CBTEST_TM_URL,	 "TMPROV_CALLBACK_LISTEN=127.0.0.1:0",
	    "TMPROV_ADMIN_LISTEN=127.0.0.1:0",	 "TMPROV_ARGON2_MEMLIMIT=8192",
	    "TMPROV_ARGON2_OPSLIMIT=1",		 "TMPROV_LOG_LEVEL=debug",
	    "TMPROV_CALLBACK_THREADS=2",	 NULL,
	};
	int n = 0;

	envp[0] = NULL;
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "TMPROV_", 7) != 0)
			cbtest_env_put(envp, &n, *e);
	cbtest_env_put(envp, &n, dburl);
	for (int i = 0; defaults[i] != NULL; i++)
		cbtest_env_put(envp, &n, defaults[i]);
	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		cbtest_env_put(envp, &n, extra[i]);
}

static pid_t
cbtest_spawn(const char *conninfo, const char *const *env, const char *dir, const char *log)
{
	char *envp[CBTEST_MAX_ENV], *dburl, bin[1024], pf[1024], apf[1024];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/tmprov-callback", cbtest_env("TMPROV_TEST_BIN"));
	snprintf(pf, sizeof(pf), "%s/port", dir);
	snprintf(apf, sizeof(apf), "%s/admin_port", dir);
	if (asprintf(&dburl, "TMPROV_DATABASE_URL=%s", conninfo) < 0)
		fail_msg("out of memory");
	cbtest_envp(envp, dburl, env);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = {bin, "--port-file", pf, "--admin-port-file", apf, NULL};
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* A failing test leaves without stopping it: the program must not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(bin, argv, envp);
		_exit(127);
	}
	free(dburl);
	return pid;
}

static void
cbproc_dir(struct cbproc *p)
{
	snprintf(p->dir, sizeof(p->dir), "%s/cb_%ld_%d", cbtest_env("TMPROV_TEST_TMP"),
		 (long)getpid(), ++cbtest_seq);
	if (mkdir(p->dir, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p->dir, strerror(errno));
	snprintf(p->log, sizeof(p->log), "%s/log", p->dir);
}

static int
cbtest_read_port(const char *file)
{
	FILE *f = fopen(file, "r");
	int port = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

static void
cbproc_fail(const struct cbproc *p, const char *why)
{
	char cmd[700];
	FILE *f = fopen(p->log, "r");

	if (f != NULL) {
		while (fgets(cmd, sizeof(cmd), f) != NULL)
			fprintf(stderr, "# callback: %s", cmd);
		fclose(f);
	}
	fail_msg("tmprov-callback: %s", why);
}

void
cbproc_start(struct cbproc *p, const char *conninfo, const char *const *env)
{
	char pf[700], apf[700];
	int status;

	memset(p, 0, sizeof(*p));
	cbproc_dir(p);
	snprintf(pf, sizeof(pf), "%s/port", p->dir);
	snprintf(apf, sizeof(apf), "%s/admin_port", p->dir);
	p->pid = cbtest_spawn(conninfo, env, p->dir, p->log);
	for (int i = 0; i < 400; i++) {
		p->port = cbtest_read_port(pf);
		p->admin_port = cbtest_read_port(apf);
		if (p->port > 0 && p->admin_port > 0)
			return;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			cbproc_fail(p, "exited before listening");
		}
		cbtest_sleep_ms(50);
	}
	cbproc_fail(p, "did not report its ports within 20 s");
}

static int
cbtest_wait(pid_t pid, int seconds)
{
	int status;

	for (int i = 0; i < seconds * 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		cbtest_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int
cbproc_stop(struct cbproc *p)
{
	int rc;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	rc = cbtest_wait(p->pid, 20);
	p->pid = 0;
	return rc;
}

int
cbproc_wait(struct cbproc *p)
{
	int rc;

	if (p->pid <= 0)
		return -1;
	rc = cbtest_wait(p->pid, 20);
	p->pid = 0;
	return rc;
}

int
cbproc_run(const char *conninfo, const char *const *env)
{
	struct cbproc p;

	memset(&p, 0, sizeof(p));
	cbproc_dir(&p);
	return cbtest_wait(cbtest_spawn(conninfo, env, p.dir, p.log), 20);
}

int
cbproc_log_contains(const struct cbproc *p, const char *needle)
{
	FILE *f = fopen(p->log, "r");
	char *text = NULL;
	size_t cap = 0, len = 0;
	int found;

	if (f == NULL)
		fail_msg("cannot read %s", p->log);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			if ((text = realloc(text, cap)) == NULL)
				fail_msg("out of memory");
		}
		size_t n = fread(text + len, 1, 4096, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	text[len] = '\0';
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* ---- HTTP ---- */

int
cbtcp_connect_from(const char *src, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	/* Any 127.0.0.0/8 address is the loopback interface's: a test picks the peer address the
	 * server sees by binding the client's end to one. */
	if (src != NULL && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
			    bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0))
		fail_msg("bind to %s: %s", src, strerror(errno));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		fail_msg("connect to port %d: %s", port, strerror(errno));
	return fd;
}

int
cbtcp_connect(int port)
{
	return cbtcp_connect_from(NULL, port);
}

static void
cbhttp_parse(struct cbhttp *out, char *data, size_t len)
{
	char *end = memmem(data, len, "\r\n\r\n", 4);
	size_t hlen = end ? (size_t)(end - data) : len;

	out->head = strndup(data, hlen);
	if (end != NULL) {
		out->body_len = len - hlen - 4;
		out->body = malloc(out->body_len + 1);
		memcpy(out->body, end + 4, out->body_len);
		out->body[out->body_len] = '\0';
	} else {
		out->body = strdup("");
	}
	if (sscanf(out->head, "HTTP/1.%*d %d", &out->status) != 1)
		out->status = 0;
}

int
cbhttp_raw(int port, const char *raw, size_t rawlen, struct cbhttp *out, int timeout_ms)
{
	return cbhttp_raw_from(NULL, port, raw, rawlen, out, timeout_ms);
}

int
cbhttp_raw_from(const char *src, int port, const char *raw, size_t rawlen, struct cbhttp *out,
		int timeout_ms)
{
	double start = clock_now_s(), deadline = start + timeout_ms / 1000.0;
	int fd = cbtcp_connect_from(src, port), rc = 0;
	size_t len = 0, cap = 65536, off = 0;
	char *data = malloc(cap);

	memset(out, 0, sizeof(*out));
	while (off < rawlen) {
		ssize_t n = send(fd, raw + off, rawlen - off, MSG_NOSIGNAL);

		if (n <= 0)
			break; /* the server may close early (a refused request): read its answer */
		off += (size_t)n;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)((deadline - clock_now_s()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			rc = -1;
			break;
		}
		if (len + 4096 > cap && (data = realloc(data, cap *= 2)) == NULL)
			fail_msg("out of memory");
		n = recv(fd, data + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	cbhttp_parse(out, data, len);
	free(data);
	out->seconds = clock_now_s() - start;
	return rc;
}

static void
cbhttp_send(int port, const char *req, size_t len, struct cbhttp *out)
{
	if (cbhttp_raw(port, req, len, out, 15000) != 0)
		fail_msg("no answer within 15 s to: %.80s", req);
}

void
cbhttp_method(int port, const char *method, const char *path, struct cbhttp *out)
{
	char *req;
	int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
			 method, path);

	if (n < 0)
		fail_msg("out of memory");
	cbhttp_send(port, req, (size_t)n, out);
	free(req);
}

void
cbhttp_get(int port, const char *path, struct cbhttp *out)
{
	cbhttp_method(port, "GET", path, out);
}

void
cbhttp_post(int port, const char *path, const char *ctype, const char *body, struct cbhttp *out)
{
	char *req;
	int n =
	    asprintf(&req,
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
		     path, ctype ? ctype : "application/x-www-form-urlencoded", strlen(body), body);

	if (n < 0)
		fail_msg("out of memory");
	cbhttp_send(port, req, (size_t)n, out);
	free(req);
}

const char *
cbhttp_header(const struct cbhttp *r, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);

	for (const char *line = r->head; line != NULL && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t n;

			while (*v == ' ')
				v++;
			n = strcspn(v, "\r\n");
			snprintf(out, outlen, "%.*s", (int)n, v);
			return out;
		}
	}
	return NULL;
}

void
cbhttp_free(struct cbhttp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void
cbtest_urlencode(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o + 4 >= outlen)
			fail_msg("cbtest: value too long to encode");
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

void
cbtest_auth_path(char *path, size_t pathlen, const char *email, const char *credential,
		 const char *partner)
{
	const char *names[3] = {"email", "password", "service_company_uid"};
	const char *vals[3] = {email, credential, partner};
	char enc[2048];
	size_t len = (size_t)snprintf(path, pathlen, "/tm/auth");

	for (int i = 0; i < 3; i++) {
		if (vals[i] == NULL)
			continue;
		cbtest_urlencode(enc, sizeof(enc), vals[i]);
		len += (size_t)snprintf(path + len, pathlen - len, "%c%s=%s",
					strchr(path, '?') ? '&' : '?', names[i], enc);
		if (len >= pathlen)
			fail_msg("cbtest: auth path too long");
	}
}

void
cbhttp_auth(int port, const char *email, const char *credential, const char *partner,
	    struct cbhttp *out)
{
	char path[8192];

	cbtest_auth_path(path, sizeof(path), email, credential, partner);
	cbhttp_get(port, path, out);
}

/* ---- database ---- */

void
cbtest_credential(const char *password, char out[65])
{
	struct password_opts o = {.scheme = PASSWORD_SHA256_HEX};

	if (password_credential(&o, password, out, 65) != 0)
		fail_msg("password_credential");
}

static PGresult *
cbsql_va(PGconn *conn, const char *sql, va_list ap)
{
	const char *params[16];
	int n = 0;
	PGresult *res;

	for (const char *p; (p = va_arg(ap, const char *)) != NULL;) {
		if (n == 16)
			fail_msg("cbsql: too many parameters");
		params[n++] = p;
	}
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	return res;
}

void
cbsql(PGconn *conn, const char *sql, ...)
{
	va_list ap;

	va_start(ap, sql);
	PQclear(cbsql_va(conn, sql, ap));
	va_end(ap);
}

char *
cbsql_value(PGconn *conn, const char *sql, ...)
{
	va_list ap;
	PGresult *res;
	char *v = NULL;

	va_start(ap, sql);
	res = cbsql_va(conn, sql, ap);
	va_end(ap);
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

void
cbseed_account(PGconn *conn, const char *subject, const char *company_uid)
{
	cbsql(
	    conn,
	    "INSERT INTO accounts (subject, company_uid, company_name, email, rooms, participants) "
	    "VALUES ($1, $2, 'Company of ' || $1, 'ops@' || $1 || '.example', 2, 25)",
	    subject, company_uid, NULL);
}

void
cbseed_user(PGconn *conn, const char *subject, const char *user_id, const char *email,
	    const char *first, const char *last, const char *password)
{
	struct password_opts o = {.scheme = PASSWORD_SHA256_HEX, .opslimit = 1, .memlimit = 8192};
	char cred[65], verifier[PASSWORD_VERIFIER_MAX];

	if (sodium_init() < 0)
		fail_msg("sodium_init");
	cbtest_credential(password, cred);
	if (password_verifier_new(&o, cred, verifier) != 0)
		fail_msg("password_verifier_new");
	cbsql(conn,
	      "INSERT INTO users (subject, user_id, email, first_name, last_name, "
	      "password_verifier) VALUES ($1, $2, $3, $4, $5, $6)",
	      subject, user_id, email, first, last, verifier, NULL);
}

void
cbseed_meeting(PGconn *conn, const char *meeting_id, const char *subject, const char *user_id,
	       const char *topic, const char *start, const char *join_url)
{
	char *sql;

	/* start is the test's own SQL expression, never outside input. */
	if (asprintf(&sql,
		     "INSERT INTO meetings (meeting_id, subject, user_id, topic, start_time, "
		     "join_url) VALUES ($1, $2, $3, $4, %s, $5)",
		     start) < 0)
		fail_msg("out of memory");
	cbsql(conn, sql, meeting_id, subject, user_id, topic, join_url, NULL);
	free(sql);
}

/* ---- XML ---- */

xmlDocPtr
cbxml_parse(const struct cbhttp *r)
{
	xmlDocPtr doc = xmlReadMemory(r->body, (int)r->body_len, "answer.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	if (doc == NULL)
		fail_msg("answer is not well-formed XML: %s", r->body);
	return doc;
}

void
cbxml_expect_children(xmlNodePtr node, const char *const *names)
{
	int i = 0;

	for (xmlNodePtr c = node->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (names[i] == NULL)
			fail_msg("<%s>: unexpected child <%s>", node->name, c->name);
		if (strcmp((const char *)c->name, names[i]) != 0)
			fail_msg("<%s>: child %d is <%s>, want <%s>", node->name, i, c->name,
				 names[i]);
		i++;
	}
	if (names[i] != NULL)
		fail_msg("<%s>: missing child <%s>", node->name, names[i]);
}

xmlNodePtr
cbxml_child(xmlNodePtr node, const char *name)
{
	for (xmlNodePtr c = node->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

void
cbxml_expect_text(xmlNodePtr node, const char *name, const char *want)
{
	xmlNodePtr c = cbxml_child(node, name);
	xmlChar *text;

	if (c == NULL)
		fail_msg("<%s> has no <%s>", node->name, name);
	text = xmlNodeGetContent(c);
	if (strcmp((const char *)text, want) != 0)
		fail_msg("<%s>: got \"%s\", want \"%s\"", name, text, want);
	xmlFree(text);
}

void
cbxml_status(const struct cbhttp *r, char *status, size_t slen, char *reason, size_t rlen)
{
	xmlDocPtr doc = cbxml_parse(r);
	xmlNodePtr root = xmlDocGetRootElement(doc), s, why;
	xmlChar *t;

	if (root == NULL || strcmp((const char *)root->name, "__Return__") != 0)
		fail_msg("not a <__Return__>: %s", r->body);
	s = cbxml_child(root, "__Status__");
	why = cbxml_child(root, "__Reason__");
	if (s == NULL || why == NULL)
		fail_msg("no Status or Reason: %s", r->body);
	t = xmlNodeGetContent(s);
	snprintf(status, slen, "%s", (const char *)t);
	xmlFree(t);
	t = xmlNodeGetContent(why);
	snprintf(reason, rlen, "%s", (const char *)t);
	xmlFree(t);
	xmlFreeDoc(doc);
}

/* ---- the PostgreSQL cluster ---- */

/* The server options it last started with, from postmaster.opts, as one -o string (each
 * argument single-quoted; pg_ctl hands it to a shell), without -D (pg_ctl adds it). */
static void
cbpg_opts(const char *data, char *out, size_t outlen)
{
	char file[1024], text[4096];
	FILE *f;
	size_t n, o = 0;
	int skip = 0;

	snprintf(file, sizeof(file), "%s/postmaster.opts", data);
	if ((f = fopen(file, "r")) == NULL)
		fail_msg("%s: %s", file, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	out[0] = '\0';
	for (char *p = strchr(text, '"'); p != NULL; p = strchr(p, '"')) {
		char *end = strchr(p + 1, '"');

		if (end == NULL)
			break;
		*end = '\0';
		if (skip)
			skip = 0;
		else if (strcmp(p + 1, "-D") == 0)
			skip = 1;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%s'%s'", o ? " " : "", p + 1);
		p = end + 1;
	}
}

void
cbpg_ctl(const char *action)
{
	const char *data = cbtest_env("TMPROV_PG_DATA"), *pg_ctl = tprog("pg_ctl");
	char opts[4096], log[1024];
	const char *argv[20];
	int n = 0, status;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/pg_ctl.log", cbtest_env("TMPROV_TEST_TMP"));
	if (getuid() == 0) {
		argv[n++] = tprog("runuser");
		argv[n++] = "-u";
		argv[n++] = "postgres";
		argv[n++] = "--";
	}
	argv[n++] = pg_ctl;
	argv[n++] = "-D";
	argv[n++] = data;
	argv[n++] = "-w";
	argv[n++] = "-t";
	argv[n++] = "60";
	argv[n++] = "-m";
	argv[n++] = "fast";
	if (strcmp(action, "start") == 0) {
		cbpg_opts(data, opts, sizeof(opts));
		argv[n++] = "-o";
		argv[n++] = opts;
	}
	argv[n++] = action;
	argv[n] = NULL;
	fflush(NULL);
	if ((pid = fork()) < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The server inherits these: keep it off the test's TAP output. */
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("pg_ctl %s failed (see %s)", action, log);
}

/* ---- metrics ---- */

double
cbmetric(int admin_port, const char *series)
{
	struct cbhttp r;
	size_t n = strlen(series);
	double v = 0;

	cbhttp_get(admin_port, "/metrics", &r);
	if (r.status != 200)
		fail_msg("/metrics answered %d", r.status);
	for (const char *line = r.body; line != NULL && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, series, n) == 0 && line[n] == ' ') {
			v = strtod(line + n + 1, NULL);
			break;
		}
	}
	cbhttp_free(&r);
	return v;
}

/* ---- storms of logins ---- */

struct cbstorm_ctx {
	int port;
	const char *email, *credential;
	atomic_int left, credentials, throttled, other;
	pthread_barrier_t go;
};

static void
cbstorm_count(struct cbstorm_ctx *s, const struct cbhttp *r)
{
	if (r->status == 200 && strstr(r->body, "<__Reason__>invalid email or password<") != NULL)
		atomic_fetch_add(&s->credentials, 1);
	else if (r->status == 200 &&
		 strstr(r->body, "<__Reason__>too many failed logins, try again later<") != NULL)
		atomic_fetch_add(&s->throttled, 1);
	else
		atomic_fetch_add(&s->other, 1);
}

static void *
cbstorm_client(void *arg)
{
	struct cbstorm_ctx *s = arg;
	char path[4096], enc_email[1024], enc_cred[1024], *req;
	struct cbhttp r;
	int n;

	cbtest_urlencode(enc_email, sizeof(enc_email), s->email);
	cbtest_urlencode(enc_cred, sizeof(enc_cred), s->credential);
	snprintf(path, sizeof(path), "/tm/auth?email=%s&password=%s&service_company_uid=%s",
		 enc_email, enc_cred, CBTEST_PARTNER);
	n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	pthread_barrier_wait(&s->go);
	while (n > 0 && atomic_fetch_sub(&s->left, 1) > 0) {
		/* No fail_msg off the test's thread: a missing answer is counted as "other". */
		cbhttp_raw(s->port, req, (size_t)n, &r, 30000);
		cbstorm_count(s, &r);
		cbhttp_free(&r);
	}
	free(req);
	return NULL;
}

void
cbstorm_run(int port, const char *email, const char *credential, int n, int clients,
	    struct cbstorm *out)
{
	struct cbstorm_ctx s = {.port = port, .email = email, .credential = credential};
	pthread_t *t = calloc((size_t)clients, sizeof(*t));
	double start;

	atomic_init(&s.left, n);
	atomic_init(&s.credentials, 0);
	atomic_init(&s.throttled, 0);
	atomic_init(&s.other, 0);
	pthread_barrier_init(&s.go, NULL, (unsigned)clients + 1);
	for (int i = 0; i < clients; i++)
		if (pthread_create(&t[i], NULL, cbstorm_client, &s) != 0)
			fail_msg("pthread_create");
	start = clock_now_s();
	pthread_barrier_wait(&s.go);
	for (int i = 0; i < clients; i++)
		pthread_join(t[i], NULL);
	out->seconds = clock_now_s() - start;
	out->credentials = atomic_load(&s.credentials);
	out->throttled = atomic_load(&s.throttled);
	out->other = atomic_load(&s.other);
	pthread_barrier_destroy(&s.go);
	free(t);
}
