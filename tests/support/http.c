/* http: libcurl GET helpers for tests. Bodies grow in a capped buffer; headers are parsed for
 * the two the tests look at (Content-Type, Retry-After). */
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

struct http_conn {
	CURL *curl;
};

struct sink {
	struct buf body;
	struct http_res *res;
	int too_large;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
on_body(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;

	int rc = buf_append(&s->body, data, size * n);

	/* Returning less than given makes curl stop with CURLE_WRITE_ERROR. */
	if (rc == BUF_TOO_LARGE)
		s->too_large = 1;
	return rc == BUF_OK ? size * n : 0;
}

/* Copies the value of header "name:" in line into out, trimmed. */
static void
header_take(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, line, len);
	out[len] = '\0';
}

static size_t
on_header(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;

	header_take(data, size * n, "Content-Type", s->res->content_type,
		    sizeof(s->res->content_type));
	header_take(data, size * n, "Retry-After", s->res->retry_after,
		    sizeof(s->res->retry_after));
	return size * n;
}

/* One GET on curl (fresh or kept alive). */
static int
perform(CURL *curl, const char *url, long timeout_ms, struct http_res *res)
{
	struct sink s = {.res = res};
	CURLcode rc;
	int ret = HTTP_OK;

	memset(res, 0, sizeof(*res));
	buf_init(&s.body, HTTP_BODY_MAX);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : HTTP_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s);
	rc = curl_easy_perform(curl);
	res->curl_code = (int)rc;
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &res->seconds);
	if (s.too_large) {
		ret = HTTP_TOO_LARGE;
		goto out;
	}
	if (rc != CURLE_OK) {
		ret = HTTP_NO_ANSWER;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	/* An empty body still comes back as "", so callers can always use it as a string. */
	if (buf_append(&s.body, "", 0) != BUF_OK)
		ret = HTTP_TOO_LARGE;
	else
		res->body = buf_take(&s.body, &res->len);
out:
	buf_free(&s.body);
	return ret;
}

int
http_fetch(const char *url, long timeout_ms, struct http_res *res)
{
	CURL *curl;
	int rc;

	pthread_once(&curl_once, curl_start);
	curl = curl_easy_init();
	if (curl == NULL) {
		memset(res, 0, sizeof(*res));
		return HTTP_NO_ANSWER;
	}
	rc = perform(curl, url, timeout_ms, res);
	curl_easy_cleanup(curl);
	return rc;
}

void
http_res_free(struct http_res *res)
{
	if (res == NULL)
		return;
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

int
http_get(const char *url, long *status, char **body, size_t *len)
{
	struct http_res res;
	int rc = http_fetch(url, 0, &res);

	*status = res.status;
	*body = res.body;
	if (len != NULL)
		*len = res.len;
	return rc;
}

int
http_get_json(const char *url, long *status, json_t **out)
{
	char *body = NULL;
	size_t len = 0;
	int rc = http_get(url, status, &body, &len);

	*out = rc == HTTP_OK ? json_loadb(body, len, 0, NULL) : NULL;
	free(body);
	return rc;
}

char *
http_escape(const char *s)
{
	char *e, *copy;

	pthread_once(&curl_once, curl_start);
	e = curl_easy_escape(NULL, s, 0);
	if (e == NULL)
		return NULL;
	copy = strdup(e); /* so that the caller frees with free() */
	curl_free(e);
	return copy;
}

static int
append_pair(struct buf *b, int *first, const char *key, const char *value)
{
	char *k = http_escape(key), *v = http_escape(value);
	int rc = -1;

	if (k != NULL && v != NULL)
		rc = buf_printf(b, "%c%s=%s", *first ? '?' : '&', k, v);
	*first = 0;
	free(k);
	free(v);
	return rc;
}

char *
http_urlv(const char *base, const char *path, const char *const *pre, va_list ap)
{
	struct buf b;
	const char *key;
	int first = 1, rc;

	buf_init(&b, 1024 * 1024);
	rc = buf_printf(&b, "%s%s", base, path);
	for (size_t i = 0; rc == 0 && pre != NULL && pre[i] != NULL; i += 2)
		rc = append_pair(&b, &first, pre[i], pre[i + 1]);
	while (rc == 0 && (key = va_arg(ap, const char *)) != NULL)
		rc = append_pair(&b, &first, key, va_arg(ap, const char *));
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

char *
http_url(const char *base, const char *path, ...)
{
	va_list ap;
	char *url;

	va_start(ap, path);
	url = http_urlv(base, path, NULL, ap);
	va_end(ap);
	return url;
}

struct http_conn *
http_conn_new(void)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	pthread_once(&curl_once, curl_start);
	if (c != NULL && (c->curl = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

int
http_conn_get(struct http_conn *c, const char *url, long *status, char **body, size_t *len)
{
	struct http_res res;
	int rc = perform(c->curl, url, 0, &res);

	*status = res.status;
	*body = res.body;
	if (len != NULL)
		*len = res.len;
	return rc;
}

void
http_conn_free(struct http_conn *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}
