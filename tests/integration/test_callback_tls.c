/* test_callback_tls: tmprov-callback with TMPROV_CALLBACK_TLS_CERT/_KEY — a login answered over
 * HTTPS with a certificate the test makes with openssl and libcurl verifying it, plain HTTP to
 * the TLS port refused, the key never in the log, and the settings checked at start-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "../support/cbtest.h"
#include "../support/clirun.h"
#include "../support/testdb.h"
#include "../support/tprog.h"

static struct testdb db;
static PGconn *conn;
static char dir[512];
/* Two certificates for 127.0.0.1, each with its own key: "a" is served, "b" is a stranger. */
static char cert_a[600], key_a[600], cert_b[600], key_b[600], junk[600];

static void
make_cert(const char *cert, const char *key)
{
	const char *argv[] = {tprog("openssl"),
			      "req",
			      "-x509",
			      "-newkey",
			      "ec",
			      "-pkeyopt",
			      "ec_paramgen_curve:P-256",
			      "-nodes",
			      "-days",
			      "2",
			      "-subj",
			      "/CN=127.0.0.1",
			      "-addext",
			      "subjectAltName=IP:127.0.0.1",
			      "-keyout",
			      key,
			      "-out",
			      cert,
			      NULL};
	struct clirun r;

	clirun(&r, argv, NULL, 30000);
	if (r.status != 0)
		clirun_dump(&r, "openssl req");
	assert_int_equal(r.status, 0);
	clirun_free(&r);
}

static int
group_setup(void **state)
{
	FILE *f;

	(void)state;
	if (testdb_open(&db, "cbtls", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-t", "CU-T");
	cbseed_user(conn, "cust-t", "u-tls", "tls@t.example", "Tee", "Ls", "tls-password");
	snprintf(dir, sizeof(dir), "%s/tls_%ld", getenv("TMPROV_TEST_TMP"), (long)getpid());
	mkdir(dir, 0700);
	snprintf(cert_a, sizeof(cert_a), "%s/a.crt", dir);
	snprintf(key_a, sizeof(key_a), "%s/a.key", dir);
	snprintf(cert_b, sizeof(cert_b), "%s/b.crt", dir);
	snprintf(key_b, sizeof(key_b), "%s/b.key", dir);
	snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
	make_cert(cert_a, key_a);
	make_cert(cert_b, key_b);
	if ((f = fopen(junk, "w")) == NULL)
		return -1;
	fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
	      f);
	fclose(f);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	testdb_close(&db, conn);
	return 0;
}

struct body {
	char data[8192];
	size_t len;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct body *b = userp;
	size_t n = size * nmemb;

	if (n > sizeof(b->data) - 1 - b->len)
		return 0;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* A login of u-tls to scheme://127.0.0.1:port, trusting only the certificate in ca. The curl
 * result; http_status and the body filled when there was an answer. */
static CURLcode
login(const char *scheme, int port, const char *ca, long *http_status, struct body *b)
{
	char cred[65], path[1024], url[1200];
	CURL *c = curl_easy_init();
	CURLcode rc;

	assert_non_null(c);
	cbtest_credential("tls-password", cred);
	cbtest_auth_path(path, sizeof(path), "tls@t.example", cred, CBTEST_PARTNER);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", scheme, port, path);
	memset(b, 0, sizeof(*b));
	*http_status = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* only ca, not the system's store */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_status);
	curl_easy_cleanup(c);
	return rc;
}

static void
start_tls(struct cbproc *p, const char *cert, const char *key)
{
	char c[700], k[700];
	const char *env[] = {c, k, NULL};

	snprintf(c, sizeof(c), "TMPROV_CALLBACK_TLS_CERT=%s", cert);
	snprintf(k, sizeof(k), "TMPROV_CALLBACK_TLS_KEY=%s", key);
	cbproc_start(p, db.conninfo, env);
}

/* The login answered over HTTPS, verified against the test's certificate; a client that trusts
 * another certificate refuses the server, so it is ours that is served. */
static void
test_login_over_tls(void **state)
{
	struct cbproc p;
	struct body b;
	long st;
	CURLcode rc;

	(void)state;
	start_tls(&p, cert_a, key_a);
	rc = login("https", p.port, cert_a, &st, &b);
	if (rc != CURLE_OK)
		print_message("# curl: %s\n", curl_easy_strerror(rc));
	assert_int_equal(rc, CURLE_OK);
	assert_int_equal(st, 200);
	assert_non_null(strstr(b.data, "<__Status__>SUCCEED</__Status__>"));
	assert_non_null(strstr(b.data, "<__QueryScheduledMeetingURL__>"));
	rc = login("https", p.port, cert_b, &st, &b);
	assert_int_equal(rc, CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* Plain HTTP to the TLS port gets no HTTP answer (and no credential is read from it). */
static void
test_plain_http_refused(void **state)
{
	static const char req[] = "GET /tm/auth?email=tls%40t.example HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	struct cbproc p;
	struct cbhttp r;
	struct body b;
	long st;

	(void)state;
	start_tls(&p, cert_a, key_a);
	cbhttp_raw(p.port, req, sizeof(req) - 1, &r, 10000);
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.body, "__Return__"));
	cbhttp_free(&r);
	assert_int_not_equal(login("http", p.port, cert_a, &st, &b), CURLE_OK);
	assert_null(strstr(b.data, "__Return__"));
	/* Still serving TLS afterwards. */
	assert_int_equal(login("https", p.port, cert_a, &st, &b), CURLE_OK);
	assert_int_equal(st, 200);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* No line of the private key reaches the log, at debug level, from start to stop. */
static void
test_key_never_logged(void **state)
{
	char line[256], first[256] = "";
	struct cbproc p;
	struct body b;
	long st;
	FILE *f = fopen(key_a, "r");

	(void)state;
	assert_non_null(f);
	/* The first line of base64 after the BEGIN line. */
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "-----", 5) != 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(first, sizeof(first), "%s", line);
			break;
		}
	fclose(f);
	assert_true(strlen(first) > 20);
	start_tls(&p, cert_a, key_a);
	assert_int_equal(login("https", p.port, cert_a, &st, &b), CURLE_OK);
	assert_int_equal(cbproc_stop(&p), 0);
	assert_false(cbproc_log_contains(&p, first));
	assert_false(cbproc_log_contains(&p, "PRIVATE KEY"));
	assert_true(cbproc_log_contains(&p, "TLS"));
}

/* Both or neither; files that are missing, not PEM, or a key that is not the certificate's:
 * each a configuration error (exit 2) before anything listens. */
static void
test_config_refused(void **state)
{
	char c_a[700], k_a[700], k_b[700], c_junk[700], c_none[700];
	const char *const bad[][3] = {
	    {c_a, NULL, NULL},	 {k_a, NULL, NULL}, {c_junk, k_a, NULL},
	    {c_none, k_a, NULL}, {c_a, k_b, NULL},
	};

	(void)state;
	snprintf(c_a, sizeof(c_a), "TMPROV_CALLBACK_TLS_CERT=%s", cert_a);
	snprintf(k_a, sizeof(k_a), "TMPROV_CALLBACK_TLS_KEY=%s", key_a);
	snprintf(k_b, sizeof(k_b), "TMPROV_CALLBACK_TLS_KEY=%s", key_b);
	snprintf(c_junk, sizeof(c_junk), "TMPROV_CALLBACK_TLS_CERT=%s", junk);
	snprintf(c_none, sizeof(c_none), "TMPROV_CALLBACK_TLS_CERT=%s/absent.crt", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("# config: %s %s\n", bad[i][0], bad[i][1] ? bad[i][1] : "");
		assert_int_equal(cbproc_run(db.conninfo, bad[i]), 2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_over_tls),
	    cmocka_unit_test(test_plain_http_refused),
	    cmocka_unit_test(test_key_never_logged),
	    cmocka_unit_test(test_config_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
