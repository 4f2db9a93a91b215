/* bench_callback: the callback scenario — tmprov-callback on a fresh database of --subjects users
 * (each with an account, a password, meetings and, for the meeting list, a live session), loaded
 * by wrk from a generated Lua script that rotates through the users and counts every answer
 * that is not the one expected (a round with any is a failure: fast failures would inflate it).
 *   --mode meetings: GET /tm/meetings/TOKEN of valid sessions
 *   --mode fail:     logins of unknown users, the throttle off (one dummy hash each)
 *   --mode login:    successful logins at the configured hash cost */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "bench.h"
#include "bench_db.h"
#include "bench_load.h"
#include "bench_proc.h"
#include "bench_stats.h"
#include "cfgkeys.h"

#define BC_MEETINGS  5 /* per user */
#define BC_START_MS  20000
#define BC_USERS_MAX 100000
#define BC_LINE_MAX  1024
#define BC_TOKEN_LEN 43 /* base64url of 32 bytes, unpadded: what tmprov-callback mints */
#define BC_RSS_BASE  32 /* MiB the callback may take besides its hashes' memory */

struct bench_cb {
	const struct bench_opts *o;
	char dir[256];
	struct bench_db db;
	struct password_opts po;
	char credential[160];
	struct bench_proc cb, wrk;
	char port[16];
	char (*tokens)[BC_TOKEN_LEN + 1];
	long hash_slots;
	/* wrk's report */
	double rps, p50, p99, max;
	long requests, bad, socket_errors, non2xx;
	long peak_kib;
};

/* One live session per user, its token kept for the wrk script. */
static int
bc_sessions(struct bench_cb *b, PGconn *conn, char *err, size_t errlen)
{
	unsigned char raw[32], h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	const char *params[1];
	struct buf arr;
	int rc = -1;

	b->tokens = calloc((size_t)b->o->subjects, sizeof(*b->tokens));
	buf_init(&arr, 64 * 1024 * 1024);
	if (b->tokens == NULL || buf_appends(&arr, "{") != BUF_OK)
		goto nomem;
	for (long i = 0; i < b->o->subjects; i++) {
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2base64(b->tokens[i], sizeof(b->tokens[i]), raw, sizeof(raw),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		crypto_hash_sha256(h, (const unsigned char *)b->tokens[i], BC_TOKEN_LEN);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		if (buf_printf(&arr, "%s%s", i ? "," : "", hex) != BUF_OK)
			goto nomem;
	}
	if (buf_appends(&arr, "}") != BUF_OK)
		goto nomem;
	params[0] = arr.data;
	rc = bench_db_execp(conn,
			    "INSERT INTO sessions (token_hash, subject, user_id, expires_at)"
			    " SELECT decode(h, 'hex'), 'bench-' || (i - 1), 'u' || (i - 1),"
			    " now() + interval '1 day'"
			    " FROM unnest($1::text[]) WITH ORDINALITY AS x(h, i)",
			    1, params, err, errlen);
	buf_free(&arr);
	return rc;
nomem:
	snprintf(err, errlen, "out of memory");
	buf_free(&arr);
	return -1;
}

/* Users (with accounts and meetings) and, for the meeting list, one live session each. */
static int
bc_seed(struct bench_cb *b, char *err, size_t errlen)
{
	long n = b->o->subjects, *subjects = malloc(sizeof(long) * (size_t)n);
	char verifier[PASSWORD_VERIFIER_MAX];
	PGconn *conn = NULL;
	int rc = -1;

	if (subjects == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (long i = 0; i < n; i++)
		subjects[i] = i;
	if (password_credential(&b->po, BENCH_PASSWORD, b->credential, sizeof(b->credential)) !=
		0 ||
	    password_verifier_new(&b->po, b->credential, verifier) != 0) {
		snprintf(err, errlen, "cannot make the users' verifier");
		goto out;
	}
	conn = bench_db_connect(&b->db, err, errlen);
	if (conn == NULL ||
	    bench_seed(conn, subjects, (size_t)n, NULL, verifier, BC_MEETINGS, err, errlen) != 0)
		goto out;
	rc = strcmp(b->o->mode, "meetings") == 0 ? bc_sessions(b, conn, err, errlen) : 0;
out:
	PQfinish(conn);
	free(subjects);
	return rc;
}

static int
bc_start(struct bench_cb *b, char *err, size_t errlen)
{
	char exe[1024], portfile[300], db[BENCH_CONNINFO_MAX + 32], tm[1100], partner[600];
	char *argv[] = {exe, "--listen", "127.0.0.1:0", "--port-file", portfile, NULL};
	const char *env[] = {db, tm, partner, "TMPROV_ADMIN_LISTEN=127.0.0.1:0", NULL, NULL};

	/* fail: every login fails; with the throttle on, the emails would soon be refused without
	 * a hash. */
	if (strcmp(b->o->mode, "fail") == 0)
		env[4] = "TMPROV_AUTH_MAX_FAILURES=0";
	snprintf(portfile, sizeof(portfile), "%s/callback.port", b->dir);
	snprintf(db, sizeof(db), "TMPROV_DATABASE_URL=%s", b->db.conninfo);
	snprintf(tm, sizeof(tm), "TMPROV_TM_URL=%s", cfg_str(b->o->cfg, &KEY_TMPROV_TM_URL));
	snprintf(partner, sizeof(partner), "TMPROV_PARTNER_ID=%s",
		 cfg_str(b->o->cfg, &KEY_TMPROV_PARTNER_ID));
	if (bench_proc_sibling("tmprov-callback", exe, sizeof(exe), err, errlen) != 0 ||
	    bench_proc_start(&b->cb, "callback", b->dir, argv, env, err, errlen) != 0)
		return -1;
	return bench_proc_wait_file(&b->cb, portfile, BC_START_MS, b->port, sizeof(b->port), err,
				    errlen);
}

/* The URL path of request i of the mode. */
static int
bc_path(struct bench_cb *b, long i, const char *partner, struct buf *out)
{
	const char *mode = b->o->mode;

	if (strcmp(mode, "meetings") == 0)
		return buf_printf(out, "\"/tm/meetings/%s\",\n", b->tokens[i]);
	return buf_printf(out,
			  "\"/tm/auth?email=%s%ld%%40bench.example&password=%s"
			  "&service_company_uid=%s\",\n",
			  strcmp(mode, "fail") == 0 ? "nobody" : "u", i, b->credential, partner);
}

/* wrk's script: the paths in turn (each thread from its own place), the answers checked, and
 * the figures printed as lines of its own. */
static int
bc_script(struct bench_cb *b, const char *path, char *err, size_t errlen)
{
	static const char tail[] =
	    "}\n"
	    "local threads = {}\n"
	    "local k = 0\n"
	    "function setup(thread)\n"
	    "  thread:set(\"id\", k)\n"
	    "  k = k + 1\n"
	    "  table.insert(threads, thread)\n"
	    "end\n"
	    "function init(args)\n"
	    "  bad = 0\n"
	    "  i = id * 7919\n"
	    "end\n"
	    "function request()\n"
	    "  i = i + 1\n"
	    "  return wrk.format(\"GET\", paths[(i % #paths) + 1])\n"
	    "end\n"
	    "function response(status, headers, body)\n"
	    "  if status ~= 200 or not string.find(body, expect, 1, true) then bad = bad + 1 end\n"
	    "end\n"
	    "function done(summary, latency, requests)\n"
	    "  local b = 0\n"
	    "  for _, t in ipairs(threads) do b = b + t:get(\"bad\") end\n"
	    "  io.write(string.format(\"bench-bad: %d\\nbench-requests: %d\\n\", b,"
	    " summary.requests))\n"
	    "  io.write(string.format(\"bench-us: %d %d %d\\n\", latency:percentile(50),"
	    " latency:percentile(99), latency.max))\n"
	    "  io.write(string.format(\"bench-errors: %d %d %d %d %d\\n\", summary.errors.connect,"
	    " summary.errors.read, summary.errors.write, summary.errors.timeout,"
	    " summary.errors.status))\n"
	    "end\n";
	char *partner = curl_easy_escape(NULL, cfg_str(b->o->cfg, &KEY_TMPROV_PARTNER_ID), 0);
	struct buf s;
	FILE *f = NULL;
	int rc = -1;

	buf_init(&s, 64 * 1024 * 1024);
	if (partner == NULL ||
	    buf_printf(&s,
		       "-- tmprov-bench callback --mode %s\nexpect = \"%s\"\n"
		       "paths = {\n",
		       b->o->mode,
		       strcmp(b->o->mode, "fail") == 0 ? ">FAILED<" : ">SUCCEED<") != BUF_OK)
		goto out;
	for (long i = 0; i < b->o->subjects; i++)
		if (bc_path(b, i, partner, &s) != BUF_OK)
			goto out;
	if (buf_appends(&s, tail) != BUF_OK)
		goto out;
	f = fopen(path, "w");
	if (f != NULL && fputs(s.data, f) >= 0 && fclose(f) == 0) {
		f = NULL;
		rc = 0;
	}
out:
	if (rc != 0)
		snprintf(err, errlen, "cannot write %s", path);
	if (f != NULL)
		fclose(f);
	curl_free(partner);
	buf_free(&s);
	return rc;
}

/* Reads the lines the script's done() wrote and wrk's "Requests/sec". */
static int
bc_report(struct bench_cb *b, char *err, size_t errlen)
{
	long us50 = -1, us99 = -1, usmax = -1, e[5] = {0};
	char line[BC_LINE_MAX];
	FILE *f = fopen(b->wrk.log, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", b->wrk.log, strerror(errno));
		return -1;
	}
	b->requests = b->bad = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "Requests/sec: %lf", &b->rps);
		sscanf(line, "bench-bad: %ld", &b->bad);
		sscanf(line, "bench-requests: %ld", &b->requests);
		sscanf(line, "bench-us: %ld %ld %ld", &us50, &us99, &usmax);
		sscanf(line, "bench-errors: %ld %ld %ld %ld %ld", &e[0], &e[1], &e[2], &e[3],
		       &e[4]);
	}
	fclose(f);
	if (b->rps <= 0 || b->requests <= 0 || us50 < 0) {
		bench_proc_log_line(&b->wrk, NULL, line, sizeof(line));
		snprintf(err, errlen, "no figures in wrk's report: %s", line);
		return -1;
	}
	b->socket_errors = e[0] + e[1] + e[2] + e[3];
	b->non2xx = e[4];
	if (b->bad > 0 || b->socket_errors > 0) {
		snprintf(err, errlen,
			 "%ld of %ld answers were not the expected one, %ld socket errors (%s)",
			 b->bad, b->requests, b->socket_errors, b->o->mode);
		return -1;
	}
	/* wrk counts in microseconds; a sub-microsecond figure would not be a figure. */
	b->p50 = (us50 > 0 ? us50 : 1) / 1e3;
	b->p99 = (us99 > 0 ? us99 : 1) / 1e3;
	b->max = (usmax > 0 ? usmax : 1) / 1e3;
	return 0;
}

static int
bc_wrk(struct bench_cb *b, char *err, size_t errlen)
{
	const struct bench_opts *o = b->o;
	char script[300], threads[24], conns[24], dur[32], url[64];
	char *argv[] = {(char *)o->wrk, "--threads", threads,	  "--connections", conns,
			"--duration",	dur,	     "--timeout", "10s",	   "--script",
			script,		url,	     NULL};
	long secs = (o->duration_ms + 999) / 1000;

	/* Run by its path, never looked up on PATH: bench.sh finds it with need (tools/need.sh). */
	if (o->wrk == NULL) {
		snprintf(err, errlen, "callback needs --wrk PATH");
		return -1;
	}
	snprintf(script, sizeof(script), "%s/load.lua", b->dir);
	snprintf(threads, sizeof(threads), "%ld", o->threads);
	snprintf(conns, sizeof(conns), "%ld", o->connections);
	snprintf(dur, sizeof(dur), "%lds", secs);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s", b->port);
	if (bc_script(b, script, err, errlen) != 0 ||
	    bench_proc_start(&b->wrk, "wrk", b->dir, argv, NULL, err, errlen) != 0)
		return -1;
	if (bench_proc_wait(&b->wrk, (int)(secs + 30) * 1000) != 0) {
		snprintf(err, errlen, "wrk failed (%d)", b->wrk.status);
		bench_proc_stop(&b->wrk, 1000);
		return -1;
	}
	b->peak_kib = bench_proc_peak_kib(&b->cb);
	return bc_report(b, err, errlen);
}

static int
bc_result(struct bench_cb *b, struct bench_result *r)
{
	double hash_mib = (double)b->hash_slots * (double)b->po.memlimit / (1024.0 * 1024.0);

	r->unit = "requests/s";
	r->params = json_pack("{s:s, s:i, s:i, s:i, s:i, s:I}", "mode", b->o->mode, "users",
			      (json_int_t)b->o->subjects, "wrk_threads", (json_int_t)b->o->threads,
			      "wrk_connections", (json_int_t)b->o->connections, "hash_slots",
			      (json_int_t)b->hash_slots, "memlimit", (json_int_t)b->po.memlimit);
	r->counts = json_pack("{s:i, s:i}", "requests", (json_int_t)b->requests, "non_2xx",
			      (json_int_t)b->non2xx);
	r->figures = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "rate", b->rps, "p50_ms", b->p50,
			       "p99_ms", b->p99, "max_ms", b->max, "peak_rss_mib",
			       b->peak_kib / 1024.0, "rss_bound_mib", BC_RSS_BASE + hash_mib);
	return r->params && r->counts && r->figures ? 0 : -1;
}

static int
bc_check(const struct bench_opts *o, char *err, size_t errlen)
{
	if (o->subjects > BC_USERS_MAX) {
		snprintf(err, errlen, "callback: at most %d users (--subjects)", BC_USERS_MAX);
		return -1;
	}
	if (o->connections < o->threads) {
		snprintf(err, errlen, "callback: --connections must be at least --threads");
		return -1;
	}
	return 0;
}

int
bench_callback(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	struct bench_cb b = {.o = o};
	const char *slots = getenv("TMPROV_HASH_CONCURRENCY");
	int rc = -1;

	if (bc_check(o, err, errlen) != 0 || password_opts_from_cfg(&b.po, o->cfg, err, errlen))
		return -1;
	/* tmprov-callback's own rule: 0 (the default) means one per online CPU. */
	b.hash_slots = slots && atol(slots) > 0 ? atol(slots) : o->cpus;
	if (bench_proc_tmpdir(b.dir, sizeof(b.dir), err, errlen) != 0)
		return -1;
	if (bench_db_create(&b.db, o->cfg, "cb", err, errlen) != 0 ||
	    bc_seed(&b, err, errlen) != 0 || bc_start(&b, err, errlen) != 0 ||
	    bc_wrk(&b, err, errlen) != 0)
		goto out;
	if (bc_result(&b, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (b.cb.pid != 0 && bench_proc_stop(&b.cb, 15000) != 0)
		fprintf(stderr, "tmprov-bench: tmprov-callback did not stop cleanly (%d)\n",
			b.cb.status);
	bench_db_drop(&b.db);
	if (getenv("TMPROV_BENCH_KEEP") == NULL)
		bench_proc_rmdir(b.dir);
	else
		fprintf(stderr, "tmprov-bench: logs kept in %s\n", b.dir);
	free(b.tokens);
	return rc;
}
