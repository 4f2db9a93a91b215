/* routes: TM's two callbacks (Sections 6 and 11) and the partner's published start and join
 * addresses (Sections 8 and 10). */
#include "routes.h"

#include <string.h>

#include "auth.h"
#include "meetings.h"
#include "redirect.h"

static const struct route routes[] = {
    {"auth", "/tm/auth", ROUTE_GET | ROUTE_POST, "GET, POST", auth_handle},
    {"meetings", "/tm/meetings/", ROUTE_GET | ROUTE_POST, "GET, POST", meetings_handle},
    {"start", "/start", ROUTE_GET | ROUTE_HEAD, "GET, HEAD", redirect_start},
    {"join", "/join/", ROUTE_GET | ROUTE_HEAD, "GET, HEAD", redirect_join},
};

const char *
routes_label(size_t i)
{
	size_t n = sizeof(routes) / sizeof(routes[0]);

	if (i < n)
		return routes[i].name;
	return i == n ? ROUTES_UNMATCHED : NULL;
}

const struct route *
routes_find(const char *url, const char **tail)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t n = strlen(r->path);

		if (r->path[n - 1] == '/') {
			if (strncmp(url, r->path, n) == 0 && url[n] != '\0') {
				*tail = url + n;
				return r;
			}
		} else if (strcmp(url, r->path) == 0) {
			*tail = "";
			return r;
		}
	}
	*tail = "";
	return NULL;
}

int
routes_allows(const struct route *r, const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return (r->methods & ROUTE_GET) != 0;
	if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
		return (r->methods & ROUTE_HEAD) != 0;
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return (r->methods & ROUTE_POST) != 0;
	return 0;
}
