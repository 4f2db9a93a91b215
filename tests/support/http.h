/* http: a small libcurl GET client for tests — one-shot calls with timeouts, a keep-alive
 * connection, URL building with escaping, and JSON answers. */
#ifndef TMPROV_TEST_HTTP_H
#define TMPROV_TEST_HTTP_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

/* Largest body read; a larger one is the distinct error HTTP_TOO_LARGE. */
#define HTTP_BODY_MAX	(512L * 1024 * 1024)
#define HTTP_TIMEOUT_MS 30000L

enum { HTTP_OK = 0, HTTP_NO_ANSWER = -1, HTTP_TOO_LARGE = -2 };

struct http_res {
	long status; /* 0 when there was no HTTP answer */
	char *body;  /* NUL-terminated, malloc'd; NULL when none */
	size_t len;
	char content_type[128];
	char retry_after[32]; /* the Retry-After header, "" when absent */
	int curl_code;	      /* CURLcode: 0, or why there was no answer (28: timeout, 52: empty) */
	double seconds;	      /* total time of the call */
};

/* GET url with a 30 s timeout. Returns HTTP_OK with the status and the body (caller frees;
 * NUL-terminated), or HTTP_NO_ANSWER / HTTP_TOO_LARGE with *body NULL. */
int http_get(const char *url, long *status, char **body, size_t *len);
/* GET url with timeout_ms (0: HTTP_TIMEOUT_MS); fills res (free it with http_res_free). */
int http_fetch(const char *url, long timeout_ms, struct http_res *res);
void http_res_free(struct http_res *res);
/* GET url and parse the body as JSON (*out: new reference, NULL if not JSON). */
int http_get_json(const char *url, long *status, json_t **out);

/* base + path + "?k=v&k=v" from NULL-terminated key, value pairs, values URL-encoded.
 * Returns a malloc'd string. */
char *http_url(const char *base, const char *path, ...) __attribute__((sentinel));
/* The same with the pairs in pre (NULL-terminated key, value array, may be NULL) first. */
char *http_urlv(const char *base, const char *path, const char *const *pre, va_list ap);
/* URL-encodes s (malloc'd). */
char *http_escape(const char *s);

/* A connection kept alive across calls. */
struct http_conn;
struct http_conn *http_conn_new(void);
int http_conn_get(struct http_conn *c, const char *url, long *status, char **body, size_t *len);
void http_conn_free(struct http_conn *c);

#endif
