/* Tests for the librdkafka configuration common/kafka builds: TMPROV_KAFKA_PROPS_FILE (kcat -F
 * lines) merged under TMPROV_KAFKA_PROPS, both checked when the configuration loads (a bad one
 * is a configuration error naming the key, never echoing a value), and client.id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgkeys.h"
#include "config.h"
#include "kafka.h"

static char props_path[] = "/tmp/test_kafka_conf_XXXXXX";

static void
write_props(const char *text)
{
	FILE *f = fopen(props_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct cfg *
load(int expect_rc, char *err, size_t errlen)
{
	const struct cfg_list list = {KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS};
	struct cfg *c = cfg_compose(&list, 1, NULL, 0);

	assert_non_null(c);
	assert_int_equal(cfg_load(c, NULL, err, errlen), expect_rc);
	return c;
}

static char *
conf_get(rd_kafka_conf_t *conf, const char *name)
{
	static char value[512];
	size_t n = sizeof(value);

	if (rd_kafka_conf_get(conf, name, value, &n) != RD_KAFKA_CONF_OK)
		return NULL;
	return value;
}

/* The file's properties apply, TMPROV_KAFKA_PROPS wins where both name one. */
static void
test_props_file_merged(void **state)
{
	char err[512] = "";
	rd_kafka_conf_t *conf;
	struct cfg *c;

	(void)state;
	write_props(
	    "# secrets for the broker\n\nsasl.username = svc\nsasl.password=pa55-from-file\n"
	    "linger.ms=7\nsocket.timeout.ms=12345\n");
	setenv("TMPROV_KAFKA_PROPS_FILE", props_path, 1);
	setenv("TMPROV_KAFKA_PROPS", "socket.timeout.ms=23456", 1);
	c = load(0, err, sizeof(err));
	conf = kafka_conf_new(c, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(conf_get(conf, "sasl.username"), "svc");
	assert_string_equal(conf_get(conf, "sasl.password"), "pa55-from-file");
	assert_string_equal(conf_get(conf, "socket.timeout.ms"), "23456");
	rd_kafka_conf_destroy(conf);
	cfg_free(c);
	unsetenv("TMPROV_KAFKA_PROPS");
	unsetenv("TMPROV_KAFKA_PROPS_FILE");
}

/* client.id is the program's name and host unless the properties set one. */
static void
test_client_id(void **state)
{
	char err[512] = "", want[320], host[256] = "";
	rd_kafka_conf_t *conf;
	struct cfg *c;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	snprintf(want, sizeof(want), "test_kafka_conf@%s", host);
	c = load(0, err, sizeof(err));
	conf = kafka_conf_new(c, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(conf_get(conf, "client.id"), want);
	rd_kafka_conf_destroy(conf);
	cfg_free(c);

	setenv("TMPROV_KAFKA_PROPS", "client.id=mine", 1);
	c = load(0, err, sizeof(err));
	conf = kafka_conf_new(c, err, sizeof(err));
	assert_string_equal(conf_get(conf, "client.id"), "mine");
	rd_kafka_conf_destroy(conf);
	cfg_free(c);
	unsetenv("TMPROV_KAFKA_PROPS");
}

/* A bad property is a configuration error when the configuration loads, naming the key and the
 * property but not the value (it may be a password). */
static void
test_bad_props_are_config_errors(void **state)
{
	static const struct {
		const char *env, *value, *want;
	} cases[] = {
	    {"TMPROV_KAFKA_PROPS", "no.such.property=topsecret", "TMPROV_KAFKA_PROPS: entry 1"},
	    {"TMPROV_KAFKA_PROPS", "linger.ms=7,enable.auto.commit=true",
	     "\"enable.auto.commit\" cannot be set"},
	    {"TMPROV_KAFKA_PROPS", "acks", "no '='"},
	    {"TMPROV_KAFKA_PROPS_FILE", "socket.timeout.ms=topsecret\n",
	     "TMPROV_KAFKA_PROPS_FILE /tmp/test_kafka_conf_"},
	    {"TMPROV_KAFKA_PROPS_FILE", "# c\nenable.idempotence=false\n", ":2: property"},
	    {"TMPROV_KAFKA_PROPS_FILE", NULL, "TMPROV_KAFKA_PROPS_FILE: cannot read /nonexistent"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512] = "";
		struct cfg *c;

		if (strcmp(cases[i].env, "TMPROV_KAFKA_PROPS") == 0) {
			setenv(cases[i].env, cases[i].value, 1);
		} else if (cases[i].value == NULL) {
			setenv(cases[i].env, "/nonexistent/kafka.properties", 1);
		} else {
			write_props(cases[i].value);
			setenv(cases[i].env, props_path, 1);
		}
		c = load(-1, err, sizeof(err));
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
		assert_null(strstr(err, "topsecret"));
		cfg_free(c);
		unsetenv(cases[i].env);
	}
}

static int
setup(void **state)
{
	int fd = mkstemp(props_path);

	(void)state;
	unsetenv("TMPROV_KAFKA_PROPS");
	unsetenv("TMPROV_KAFKA_PROPS_FILE");
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(props_path);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_props_file_merged),
	    cmocka_unit_test(test_client_id),
	    cmocka_unit_test(test_bad_props_are_config_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
