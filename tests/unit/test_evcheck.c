/* Tests for tests/support/evcheck, the event schema checker the worker tests rely on: it must
 * agree with tests/vectors/events/manifest.tsv (the verdicts the JSON Schema cross-check
 * confirms) on every JSON vector, naming the field the manifest names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/evcheck.h"

static void
check_vector(const char *dir, const char *file, const char *expect, const char *field)
{
	char path[2048], err[512];
	json_t *doc;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	doc = json_load_file(path, 0, NULL);
	if (doc == NULL) {
		/* Only the vectors that are not JSON at all; the schema never sees those. */
		assert_true(strcmp(expect, "not_json") == 0 || strcmp(expect, "not_utf8") == 0);
		return;
	}
	rc = evcheck_event(doc, err, sizeof(err));
	json_decref(doc);
	if (strcmp(expect, "ok") == 0) {
		if (rc != 0)
			fail_msg("%s: evcheck says %s, manifest ok", file, err);
		return;
	}
	if (rc == 0)
		fail_msg("%s: evcheck accepts it, manifest %s", file, expect);
	if (strcmp(field, "-") != 0 && strstr(err, field) == NULL)
		fail_msg("%s: error \"%s\" does not name %s", file, err, field);
}

static void
test_event_vectors(void **state)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	char dir[1024], path[1100], line[1024];
	int n = 0;
	FILE *f;

	(void)state;
	if (src == NULL)
		fail_msg("TMPROV_TEST_SRC is not set (run under tests/run-tests)");
	snprintf(dir, sizeof(dir), "%s/tests/vectors/events", src);
	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char file[512], expect[64], field[256];

		if (line[0] == '#' || sscanf(line, "%511s %63s %255s", file, expect, field) != 3)
			continue;
		check_vector(dir, file, expect, field);
		n++;
	}
	fclose(f);
	assert_true(n >= 20);
}

/* A hand-made outcome: the checker rejects each mutation of it. */
static void
test_mutations(void **state)
{
	static const char *const bad[] = {
	    "{\"source\":\"billing\"}",
	    "{\"commandid\":null}",
	    "{\"data\":{\"company_uid\":\"0123456789012345678901234567890123456\"}}",
	    "{\"data\":{\"rooms\":\"2\"}}",
	    "{\"type\":\"account.made\"}",
	    "{\"Bad\":\"x\"}",
	};
	const char *good =
	    "{\"specversion\":\"1.0\",\"id\":\"evt-1\",\"source\":\"tmprov\","
	    "\"type\":\"account.created\",\"subject\":\"cust-1\",\"commandid\":\"c-1\","
	    "\"time\":\"2026-01-02T03:04:05Z\",\"datacontenttype\":\"application/json\","
	    "\"data\":{\"company_uid\":\"u-1\",\"company_name\":\"Acme\",\"email\":"
	    "\"a@b.example\",\"rooms\":2,\"participants\":25}}";
	char err[512];
	json_t *ev = json_loads(good, 0, NULL);

	(void)state;
	assert_non_null(ev);
	assert_int_equal(evcheck_event(ev, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = json_deep_copy(ev), *patch = json_loads(bad[i], 0, NULL);

		assert_non_null(patch);
		if (json_object_get(patch, "data"))
			json_object_update(json_object_get(m, "data"),
					   json_object_get(patch, "data"));
		else
			json_object_update(m, patch);
		if (evcheck_event(m, err, sizeof(err)) == 0)
			fail_msg("mutation %s accepted", bad[i]);
		json_decref(patch);
		json_decref(m);
	}
	json_decref(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_vectors),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
