/* query: ordered query parameters; parsing of query strings given on the command line. */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
query_init(struct query *q)
{
	memset(q, 0, sizeof(*q));
}

void
query_add(struct query *q, const char *key, const char *value, size_t len)
{
	if (q->n == QUERY_MAX_PARAMS) {
		q->too_many = 1;
		return;
	}
	if (value == NULL) {
		value = "";
		len = 0;
	}
	if (strlen(value) != len)
		q->has_nul = 1;
	q->p[q->n].key = key;
	q->p[q->n].value = value;
	q->p[q->n].len = len;
	q->n++;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s in place; returns its new length or -1 on a bad %-escape. */
static long
url_decode(char *s)
{
	char *in = s, *out = s;

	for (; *in; in++) {
		if (*in == '+') {
			*out++ = ' ';
		} else if (*in == '%') {
			int hi = hex_value(in[1]), lo = hi < 0 ? -1 : hex_value(in[2]);

			if (lo < 0)
				return -1;
			*out++ = (char)(hi * 16 + lo);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return (long)(out - s);
}

int
query_parse(struct query *q, const char *s, char *err, size_t errlen)
{
	char *save = NULL, *pair;

	query_init(q);
	q->owned = strdup(s);
	if (q->owned == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (pair = strtok_r(q->owned, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		const char *value = "";
		long len = 0;

		if (eq != NULL) {
			*eq = '\0';
			value = eq + 1;
			len = url_decode(eq + 1);
		}
		if (len < 0 || url_decode(pair) < 0) {
			snprintf(err, errlen, "bad %%-escape in \"%s\"", pair);
			return -1;
		}
		query_add(q, pair, value, (size_t)len);
	}
	if (q->too_many) {
		snprintf(err, errlen, "more than %d parameters", QUERY_MAX_PARAMS);
		return -1;
	}
	return 0;
}

const char *
query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++) {
		if (strcmp(q->p[i].key, key) == 0)
			return q->p[i].value;
	}
	return NULL;
}

const char *
query_repeated(const struct query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		for (size_t j = i + 1; j < q->n; j++) {
			if (strcmp(q->p[i].key, q->p[j].key) == 0)
				return q->p[i].key;
		}
	}
	return NULL;
}

void
query_free(struct query *q)
{
	free(q->owned);
	q->owned = NULL;
	q->n = 0;
}
