/* query: a request's query parameters as an ordered list of key/value pairs, filled from
 * libmicrohttpd or parsed from a query string (--faults), and who sent the request. Keys and
 * values are borrowed. */
#ifndef TMSIM_QUERY_H
#define TMSIM_QUERY_H

#include <stddef.h>

/* More than any TM call needs; a request with more is answered as bad, not truncated. */
#define QUERY_MAX_PARAMS 64

struct query_param {
	const char *key;
	const char *value; /* never NULL: "key" without "=" has the value "" */
	size_t len;
};

struct query {
	struct query_param p[QUERY_MAX_PARAMS];
	size_t n;
	int too_many; /* more than QUERY_MAX_PARAMS were given; the rest were dropped */
	int has_nul;  /* a value contained a NUL byte (%00) */
	char *owned;  /* the decoded copy query_parse made, or NULL */
	/* Who sent the request, for the call log: its address ("127.0.0.1:43512") and
	 * User-Agent; NULL when unknown. */
	const char *peer;
	const char *agent;
};

void query_init(struct query *q);
/* Adds one pair; value NULL means "". The strings must outlive q. */
void query_add(struct query *q, const char *key, const char *value, size_t len);
/* Parses "a=1&b=x%20y" (percent and '+' decoding) into q, which owns the decoded copy. */
int query_parse(struct query *q, const char *s, char *err, size_t errlen);
/* The first value of key, or NULL. */
const char *query_get(const struct query *q, const char *key);
/* A key given more than once, or NULL. */
const char *query_repeated(const struct query *q);
void query_free(struct query *q);

#endif
