/* cmdjson: builds tm.commands messages (CloudEvents 1.0, structured JSON) for tests. */
#ifndef TMPROV_TEST_CMDJSON_H
#define TMPROV_TEST_CMDJSON_H

#include <jansson.h>

/* {"specversion":"1.0","id":id,"source":"tests","type":type,"subject":subject,"time":now,
 *  "datacontenttype":"application/json","data":data}; data is stolen (NULL: no "data").
 * New reference, NULL when out of memory. */
json_t *cmdjson_event(const char *id, const char *type, const char *subject, json_t *data);
/* The compact JSON text of cmdjson_event (malloc'd). */
char *cmdjson_text(const char *id, const char *type, const char *subject, json_t *data);
/* Compact JSON text of any value (malloc'd); ev is borrowed. */
char *cmdjson_dump(const json_t *ev);

#endif
