/* cmdjson: command messages as the billing system would send them. */
#include "cmdjson.h"

#include <stdlib.h>
#include <time.h>

json_t *
cmdjson_event(const char *id, const char *type, const char *subject, json_t *data)
{
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	json_t *ev;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id,
		       "source", "tests", "type", type, "subject", subject, "time", now,
		       "datacontenttype", "application/json");
	if (ev == NULL) {
		json_decref(data);
		return NULL;
	}
	if (data != NULL)
		json_object_set_new(ev, "data", data);
	return ev;
}

char *
cmdjson_dump(const json_t *ev)
{
	return json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

char *
cmdjson_text(const char *id, const char *type, const char *subject, json_t *data)
{
	json_t *ev = cmdjson_event(id, type, subject, data);
	char *s = ev ? cmdjson_dump(ev) : NULL;

	json_decref(ev);
	return s;
}
