/* routes: the static table of what tmprov-callback serves — path, methods, metric name and the
 * handler — and its lookup. The access handler does nothing but look a request up here. */
#ifndef CALLBACK_ROUTES_H
#define CALLBACK_ROUTES_H

#include <microhttpd.h>

#include "request.h"

enum { ROUTE_GET = 1, ROUTE_HEAD = 2, ROUTE_POST = 4 };

/* tail: what follows a prefix route's path (the token, the meeting id); "" for exact routes. */
typedef enum MHD_Result (*route_fn)(struct request *rq, const char *tail);

struct route {
	const char *name;  /* metrics label */
	const char *path;  /* exact path; a path ending in '/' is a prefix with a non-empty tail */
	unsigned methods;  /* ROUTE_* */
	const char *allow; /* the Allow header of a 405 */
	route_fn handle;
};

/* The metrics label of a request no route matched. */
#define ROUTES_UNMATCHED "none"

/* The i-th route's name, then ROUTES_UNMATCHED, then NULL: every route label of the metrics. */
const char *routes_label(size_t i);

/* The route for url (a path without the query string) or NULL; *tail set as above. */
const struct route *routes_find(const char *url, const char **tail);
/* 1 if r accepts method (as libmicrohttpd spells it), else 0. */
int routes_allows(const struct route *r, const char *method);

#endif
