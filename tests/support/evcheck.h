/* evcheck: checks an outcome event against schemas/event.schema.json (and through it
 * schemas/events/ and schemas/common.json) with a small JSON Schema evaluator: the keywords
 * those files use, patterns where POSIX regular expressions can express them. */
#ifndef TMPROV_TEST_EVCHECK_H
#define TMPROV_TEST_EVCHECK_H

#include <stddef.h>

#include <jansson.h>

/* Checks ev against $TMPROV_TEST_SRC/schemas/event.schema.json. Returns 0, or -1 with err
 * naming the first violation ("data.company_uid: longer than 36") or why the schema could not
 * be read. */
int evcheck_event(const json_t *ev, char *err, size_t errlen);

/* The same against any schema file under schemas/ (e.g. "command.schema.json"). */
int evcheck_file(const char *schema, const json_t *doc, char *err, size_t errlen);

#endif
