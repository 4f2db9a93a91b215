/* evcheck: a JSON Schema (draft 2020-12) subset: $ref to files and JSON pointers, allOf, anyOf,
 * oneOf, not, if/then/else, type, const, enum, required, properties, additionalProperties,
 * propertyNames, items, min/maxItems, uniqueItems, min/maxLength, minimum/maximum and
 * pattern. A pattern POSIX ERE cannot read the same way (escapes, non-capturing groups) is
 * skipped: the Python cross-check covers those. Unknown keywords are annotations. */
#include "evcheck.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX    64
#define PATH_MAX_LEN 256

/* Loaded schema files, by real path; kept for the life of the test program. */
static json_t *docs;

struct ctx {
	const char *file; /* real path of the document the current schema is in */
	char *err;
	size_t errlen;
	int depth;
};

static int check(struct ctx *c, const json_t *s, const json_t *v, const char *path);

static json_t *
doc_load(const char *file, char *err, size_t errlen)
{
	json_error_t je;
	json_t *d;

	if (docs == NULL)
		docs = json_object();
	d = json_object_get(docs, file);
	if (d != NULL)
		return d;
	d = json_load_file(file, 0, &je);
	if (d == NULL) {
		snprintf(err, errlen, "schema %s: %s", file, je.text);
		return NULL;
	}
	json_object_set_new(docs, file, d);
	return d;
}

/* Follows a JSON pointer ("/$defs/x") inside doc. */
static const json_t *
pointer(const json_t *doc, const char *ptr)
{
	char tok[256];

	while (doc != NULL && *ptr == '/') {
		size_t n = strcspn(ptr + 1, "/");

		if (n >= sizeof(tok))
			return NULL;
		memcpy(tok, ptr + 1, n);
		tok[n] = '\0';
		doc = json_object_get(doc, tok);
		ptr += n + 1;
	}
	return *ptr == '\0' ? doc : NULL;
}

static int
fail(struct ctx *c, const char *path, const char *fmt, const char *detail)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, detail);
	snprintf(c->err, c->errlen, "%s: %s", *path ? path : "(event)", msg);
	return -1;
}

static int
check_ref(struct ctx *c, const char *ref, const json_t *v, const char *path)
{
	const char *hash = strchr(ref, '#');
	char rel[PATH_MAX_LEN], joined[PATH_MAX * 2], real[PATH_MAX];
	const json_t *doc, *target;
	struct ctx sub = *c;
	int rc;

	snprintf(rel, sizeof(rel), "%.*s", hash ? (int)(hash - ref) : (int)strlen(ref), ref);
	if (rel[0] == '\0') {
		snprintf(real, sizeof(real), "%s", c->file);
	} else {
		const char *slash = strrchr(c->file, '/');

		snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - c->file), c->file, rel);
		if (realpath(joined, real) == NULL)
			return fail(c, path, "$ref %s: no such schema file", ref);
	}
	doc = doc_load(real, c->err, c->errlen);
	if (doc == NULL)
		return -1;
	target = hash ? pointer(doc, hash + 1) : doc;
	if (target == NULL)
		return fail(c, path, "$ref %s: no such definition", ref);
	sub.file = real;
	rc = check(&sub, target, v, path);
	return rc;
}

static int
type_is(const char *t, const json_t *v)
{
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "null") == 0)
		return json_is_null(v);
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) ||
		       (json_is_real(v) &&
			json_real_value(v) == (double)(long long)json_real_value(v));
	return 0;
}

static int
check_type(struct ctx *c, const json_t *t, const json_t *v, const char *path)
{
	size_t i;
	json_t *one;

	if (json_is_string(t))
		return type_is(json_string_value(t), v)
			   ? 0
			   : fail(c, path, "is not of type %s", json_string_value(t));
	json_array_foreach(t, i, one)
	{
		if (type_is(json_string_value(one), v))
			return 0;
	}
	return fail(c, path, "is not of any allowed type%s", "");
}

static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static int
check_pattern(struct ctx *c, const char *re, const char *s, const char *path)
{
	regex_t rx;
	int rc;

	/* ERE has no \uXXXX, \d or (?:...): such patterns are left to the Python cross-check. */
	if (strchr(re, '\\') != NULL || strstr(re, "(?") != NULL)
		return 0;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	rc = regexec(&rx, s, 0, NULL, 0);
	regfree(&rx);
	return rc == 0 ? 0 : fail(c, path, "does not match %s", re);
}

static int
check_string(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *k;
	char num[32];

	if (!json_is_string(v))
		return 0;
	if ((k = json_object_get(s, "minLength")) &&
	    utf8_chars(json_string_value(v)) < (size_t)json_integer_value(k)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(k));
		return fail(c, path, "shorter than %s", num);
	}
	if ((k = json_object_get(s, "maxLength")) &&
	    utf8_chars(json_string_value(v)) > (size_t)json_integer_value(k)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(k));
		return fail(c, path, "longer than %s", num);
	}
	if ((k = json_object_get(s, "pattern")))
		return check_pattern(c, json_string_value(k), json_string_value(v), path);
	return 0;
}

static int
check_number(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *k;

	if (!json_is_number(v))
		return 0;
	if ((k = json_object_get(s, "minimum")) && json_number_value(v) < json_number_value(k))
		return fail(c, path, "below the minimum%s", "");
	if ((k = json_object_get(s, "maximum")) && json_number_value(v) > json_number_value(k))
		return fail(c, path, "above the maximum%s", "");
	return 0;
}

static int
check_array(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *k;
	char sub[PATH_MAX_LEN];
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return 0;
	if ((k = json_object_get(s, "minItems")) &&
	    json_array_size(v) < (size_t)json_integer_value(k))
		return fail(c, path, "has too few items%s", "");
	if ((k = json_object_get(s, "maxItems")) &&
	    json_array_size(v) > (size_t)json_integer_value(k))
		return fail(c, path, "has too many items%s", "");
	if (json_is_true(json_object_get(s, "uniqueItems")))
		for (i = 0; i < json_array_size(v); i++)
			for (size_t j = i + 1; j < json_array_size(v); j++)
				if (json_equal(json_array_get(v, i), json_array_get(v, j)))
					return fail(c, path, "has duplicate items%s", "");
	if ((k = json_object_get(s, "items")))
		json_array_foreach(v, i, item)
		{
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (check(c, k, item, sub) != 0)
				return -1;
		}
	return 0;
}

static int
check_object(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *req = json_object_get(s, "required"),
		     *props = json_object_get(s, "properties");
	const json_t *add = json_object_get(s, "additionalProperties");
	const json_t *names = json_object_get(s, "propertyNames");
	char sub[PATH_MAX_LEN];
	const char *key;
	json_t *one, *val;
	size_t i;

	if (!json_is_object(v))
		return 0;
	json_array_foreach(req, i, one)
	{
		if (json_object_get(v, json_string_value(one)) == NULL) {
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
				 json_string_value(one));
			return fail(c, sub, "is required%s", "");
		}
	}
	json_object_foreach((json_t *)v, key, val)
	{
		const json_t *ps = json_object_get(props, key);

		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
		if (names != NULL) {
			json_t *name = json_string(key);
			int rc = check(c, names, name, sub);

			json_decref(name);
			if (rc != 0)
				return -1;
		}
		if (ps != NULL && check(c, ps, val, sub) != 0)
			return -1;
		if (ps == NULL && json_is_false(add))
			return fail(c, sub, "is not allowed%s", "");
		if (ps == NULL && json_is_object(add) && check(c, add, val, sub) != 0)
			return -1;
	}
	return 0;
}

/* A "not" that matched. When it forbids fields ({"required": [...]}, alone or in anyOf), the
 * message names the forbidden field present, as the manifest expects. */
static int
not_failed(struct ctx *c, const json_t * not, const json_t *v, const char *path)
{
	const json_t *any = json_object_get(not, "anyOf");
	char sub[PATH_MAX_LEN];
	size_t i, j;
	json_t *one, *name;

	for (i = 0; i < (any ? json_array_size(any) : 1); i++) {
		one = any ? json_array_get(any, i) : (json_t *)not ;
		json_array_foreach(json_object_get(one, "required"), j, name)
		{
			if (json_object_get(v, json_string_value(name)) == NULL)
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
				 json_string_value(name));
			return fail(c, sub, "must not be present%s", "");
		}
	}
	return fail(c, path, "matches a schema it must not%s", "");
}

/* allOf, anyOf, oneOf, not, if/then/else. */
static int
check_logic(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *k;
	size_t i, ok = 0;
	json_t *one;
	char scratch[8];
	struct ctx quiet = *c;

	quiet.err = scratch;
	quiet.errlen = sizeof(scratch);
	json_array_foreach(json_object_get(s, "allOf"), i, one)
	{
		if (check(c, one, v, path) != 0)
			return -1;
	}
	if ((k = json_object_get(s, "anyOf"))) {
		json_array_foreach(k, i, one) ok += check(&quiet, one, v, path) == 0;
		if (ok == 0)
			return fail(c, path, "matches none of anyOf%s", "");
	}
	if ((k = json_object_get(s, "oneOf"))) {
		ok = 0;
		json_array_foreach(k, i, one) ok += check(&quiet, one, v, path) == 0;
		if (ok != 1)
			return fail(c, path, "does not match exactly one of oneOf%s", "");
	}
	if ((k = json_object_get(s, "not")) && check(&quiet, k, v, path) == 0)
		return not_failed(c, k, v, path);
	if ((k = json_object_get(s, "if"))) {
		const json_t *next =
		    json_object_get(s, check(&quiet, k, v, path) == 0 ? "then" : "else");

		if (next != NULL && check(c, next, v, path) != 0)
			return -1;
	}
	return 0;
}

static int
check(struct ctx *c, const json_t *s, const json_t *v, const char *path)
{
	const json_t *k;
	size_t i;
	json_t *one;
	int rc = -1, found = 0;

	if (json_is_boolean(s))
		return json_is_true(s) ? 0 : fail(c, path, "is not allowed%s", "");
	if (++c->depth > DEPTH_MAX) {
		fail(c, path, "schema nested too deeply%s", "");
		goto out;
	}
	if ((k = json_object_get(s, "$ref")) && check_ref(c, json_string_value(k), v, path) != 0)
		goto out;
	if ((k = json_object_get(s, "type")) && check_type(c, k, v, path) != 0)
		goto out;
	if ((k = json_object_get(s, "const")) && !json_equal((json_t *)k, (json_t *)v)) {
		fail(c, path, "is not the constant the schema requires%s", "");
		goto out;
	}
	if ((k = json_object_get(s, "enum"))) {
		json_array_foreach(k, i, one) found |= json_equal(one, (json_t *)v);
		if (!found) {
			fail(c, path, "is not one of the allowed values%s", "");
			goto out;
		}
	}
	if (check_string(c, s, v, path) || check_number(c, s, v, path) ||
	    check_array(c, s, v, path) || check_object(c, s, v, path) || check_logic(c, s, v, path))
		goto out;
	rc = 0;
out:
	c->depth--;
	return rc;
}

int
evcheck_file(const char *schema, const json_t *doc, char *err, size_t errlen)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	char joined[PATH_MAX], real[PATH_MAX];
	struct ctx c = {.file = real, .err = err, .errlen = errlen};
	const json_t *s;

	if (src == NULL || *src == '\0') {
		snprintf(err, errlen, "TMPROV_TEST_SRC is not set (the source root)");
		return -1;
	}
	snprintf(joined, sizeof(joined), "%s/schemas/%s", src, schema);
	if (realpath(joined, real) == NULL) {
		snprintf(err, errlen, "%s: no such schema", joined);
		return -1;
	}
	s = doc_load(real, err, errlen);
	if (s == NULL)
		return -1;
	return check(&c, s, doc, "");
}

int
evcheck_event(const json_t *ev, char *err, size_t errlen)
{
	return evcheck_file("event.schema.json", ev, err, errlen);
}
