/* Tests for common/dlqdef: the one table of DLQ reasons against the contracts that list them —
 * schemas/asyncapi.yaml (the tmprov.reason header of a DLQ copy, the prefixed header names, and
 * the content type of every command and event message) and schemas/common.json (reject_reason,
 * the data.reason of command.rejected) — in both directions, so neither can drift. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <yaml.h>

#include "../../common/dlqdef.h"
#include "../../common/validate.h"

struct yfile {
	yaml_document_t doc;
	yaml_node_t *root;
};

static void
src_path(char *out, size_t outlen, const char *rel)
{
	const char *src = getenv("TMPROV_TEST_SRC");

	snprintf(out, outlen, "%s/%s", src && *src ? src : ".", rel);
}

static void
yload(struct yfile *y, const char *rel)
{
	yaml_parser_t p;
	char path[4096];
	FILE *f;

	src_path(path, sizeof(path), rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &y->doc))
		fail_msg("%s: YAML error: %s", path, p.problem ? p.problem : "?");
	yaml_parser_delete(&p);
	fclose(f);
	y->root = yaml_document_get_root_node(&y->doc);
	assert_non_null(y->root);
}

/* The value of key in mapping n; NULL when n is not a mapping or has no such key. */
static yaml_node_t *
yget(struct yfile *y, yaml_node_t *n, const char *key)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);

		if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(&y->doc, p->value);
	}
	return NULL;
}

static yaml_node_t *
ypath(struct yfile *y, const char *const *keys)
{
	yaml_node_t *n = y->root;

	for (; *keys != NULL && n != NULL; keys++)
		n = yget(y, n, *keys);
	return n;
}

/* The scalars of sequence n as a JSON array of strings (new reference). */
static json_t *
yseq_strings(struct yfile *y, yaml_node_t *n)
{
	json_t *a = json_array();

	assert_non_null(n);
	assert_int_equal(n->type, YAML_SEQUENCE_NODE);
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		yaml_node_t *v = yaml_document_get_node(&y->doc, *i);

		assert_int_equal(v->type, YAML_SCALAR_NODE);
		json_array_append_new(a, json_string((char *)v->data.scalar.value));
	}
	return a;
}

static bool
json_has(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* list (of strings) names exactly the reasons want() selects, each once. */
static void
assert_reasons(const char *where, const json_t *list, bool (*want)(enum dlq_reason))
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		int r = dlq_reason_parse(json_string_value(v));

		if (r < 0 || !want((enum dlq_reason)r))
			fail_msg("%s lists \"%s\", which the code's table (common/dlqdef.c) does "
				 "not have there",
				 where, json_string_value(v));
	}
	for (int r = 0; r < DLQ_REASON_COUNT; r++) {
		if (!want((enum dlq_reason)r))
			continue;
		n++;
		if (!json_has(list, dlq_reason_name((enum dlq_reason)r)))
			fail_msg("%s lacks \"%s\", which the code emits", where,
				 dlq_reason_name((enum dlq_reason)r));
	}
	assert_int_equal(json_array_size(list), n);
}

static bool
any_reason(enum dlq_reason r)
{
	(void)r;
	return true;
}

static void
test_names_unique(void **state)
{
	(void)state;
	for (int r = 0; r < DLQ_REASON_COUNT; r++) {
		assert_non_null(dlq_reason_name((enum dlq_reason)r));
		assert_int_equal(dlq_reason_parse(dlq_reason_name((enum dlq_reason)r)), r);
	}
	assert_null(dlq_reason_name(DLQ_REASON_COUNT));
	assert_int_equal(dlq_reason_parse("nope"), -1);
	assert_int_equal(dlq_reason_parse(NULL), -1);
}

/* The validator's verdicts are the table's first reasons, by the same names. */
static void
test_validate_names(void **state)
{
	(void)state;
	assert_string_equal(validate_status_name(VALIDATE_OK), "ok");
	for (int s = VALIDATE_OK + 1; s < VALIDATE_STATUS_COUNT; s++) {
		int r = dlq_reason_parse(validate_status_name((enum validate_status)s));

		assert_true(r >= 0);
		assert_true(dlq_reason_rejects((enum dlq_reason)r));
	}
}

static void
test_asyncapi_reasons(void **state)
{
	static const char *const path[] = {"components", "messages",   "deadLetter",
					   "headers",	 "properties", NULL};
	struct yfile y;
	yaml_node_t *props;
	json_t *list;

	(void)state;
	yload(&y, "schemas/asyncapi.yaml");
	props = ypath(&y, path);
	assert_non_null(props);
	list = yseq_strings(&y, yget(&y, yget(&y, props, DLQ_HDR_REASON), "enum"));
	assert_reasons("asyncapi.yaml deadLetter " DLQ_HDR_REASON, list, any_reason);
	json_decref(list);
	/* tmprov's headers are documented under their prefixed names, and no unprefixed one is. */
	{
		static const char *const names[] = {
		    DLQ_HDR_REASON,	      DLQ_HDR_ERROR,	     DLQ_HDR_ORIGIN_TOPIC,
		    DLQ_HDR_ORIGIN_PARTITION, DLQ_HDR_ORIGIN_OFFSET, DLQ_HDR_TRUNCATED,
		    DLQ_HDR_KEY_TRUNCATED,    DLQ_HDR_TRACEPARENT,
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (yget(&y, props, names[i]) == NULL)
				fail_msg("asyncapi.yaml deadLetter headers lack %s", names[i]);
		for (yaml_node_pair_t *p = props->data.mapping.pairs.start;
		     p < props->data.mapping.pairs.top; p++) {
			const char *k =
			    (char *)yaml_document_get_node(&y.doc, p->key)->data.scalar.value;

			if (strncmp(k, DLQ_HDR_PREFIX, strlen(DLQ_HDR_PREFIX)) != 0)
				fail_msg("asyncapi.yaml deadLetter header %s lacks the %s prefix",
					 k, DLQ_HDR_PREFIX);
		}
	}
	yaml_document_delete(&y.doc);
}

/* Commands and events are CloudEvents in structured mode: their messages say so. */
static void
test_asyncapi_content_types(void **state)
{
	static const char *const path[] = {"components", "messages", NULL};
	struct yfile y;
	yaml_node_t *msgs, *dflt;
	size_t n = 0;

	(void)state;
	yload(&y, "schemas/asyncapi.yaml");
	dflt = yget(&y, y.root, "defaultContentType");
	assert_non_null(dflt);
	assert_string_equal((char *)dflt->data.scalar.value, "application/cloudevents+json");
	msgs = ypath(&y, path);
	assert_non_null(msgs);
	for (yaml_node_pair_t *p = msgs->data.mapping.pairs.start; p < msgs->data.mapping.pairs.top;
	     p++) {
		const char *name =
		    (char *)yaml_document_get_node(&y.doc, p->key)->data.scalar.value;
		yaml_node_t *ct = yget(&y, yaml_document_get_node(&y.doc, p->value), "contentType");
		const char *want = strcmp(name, "deadLetter") == 0 ? "application/octet-stream"
								   : "application/cloudevents+json";

		if (ct == NULL || strcmp((char *)ct->data.scalar.value, want) != 0)
			fail_msg("asyncapi.yaml message %s: contentType %s, want %s", name,
				 ct ? (char *)ct->data.scalar.value : "(none)", want);
		n++;
	}
	assert_true(n > 10);
	yaml_document_delete(&y.doc);
}

static void
test_common_reject_reasons(void **state)
{
	char path[4096];
	json_error_t jerr;
	json_t *doc, *list;

	(void)state;
	src_path(path, sizeof(path), "schemas/common.json");
	doc = json_load_file(path, 0, &jerr);
	if (doc == NULL)
		fail_msg("%s: %s", path, jerr.text);
	list = json_object_get(json_object_get(json_object_get(doc, "$defs"), "reject_reason"),
			       "enum");
	assert_non_null(list);
	assert_reasons("common.json reject_reason", list, dlq_reason_rejects);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_unique),
	    cmocka_unit_test(test_validate_names),
	    cmocka_unit_test(test_asyncapi_reasons),
	    cmocka_unit_test(test_asyncapi_content_types),
	    cmocka_unit_test(test_common_reject_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
