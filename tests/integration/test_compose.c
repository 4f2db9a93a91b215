/* A static check of docker-compose.yml and the Dockerfile, since no container engine runs in
 * `make check`: the YAML (read by python3-yaml, checked here) has the services the deployment
 * needs; every tmprov service runs a program the build makes; every depends_on names a
 * service, waits on a condition that service can meet (a healthcheck, or a one-shot that
 * completes); every long-running service has a healthcheck; two workers; Kafka in KRaft mode;
 * every TMPROV_ setting is one a program knows; the Dockerfile is a multi-stage bookworm
 * build. `docker compose config` runs too where a compose client exists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/clirun.h"
#include "../support/tprog.h"

#define RUN_MS 30000

static json_t *services;
static char compose[1024], dockerfile[1024];

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool
ours(const json_t *svc)
{
	return json_object_get(svc, "build") != NULL ||
	       strcmp(str(svc, "image"), "tmprov:local") == 0;
}

/* One-shot: some service waits for it to complete. */
static bool
one_shot(const char *name)
{
	const char *sname, *dname;
	json_t *svc, *dep;

	json_object_foreach(services, sname, svc)
	{
		json_object_foreach(json_object_get(svc, "depends_on"), dname, dep)
		{
			if (strcmp(dname, name) == 0 &&
			    strcmp(str(dep, "condition"), "service_completed_successfully") == 0)
				return true;
		}
	}
	return false;
}

static void
test_services(void **state)
{
	static const char *const want[] = {"kafka", "postgres", "migrate",
					   "tmsim", "worker",	"callback"};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (json_object_get(services, want[i]) == NULL)
			fail_msg("no service %s", want[i]);
	assert_null(json_object_get(services, "zookeeper"));
}

static void
test_commands_exist(void **state)
{
	const char *bin = getenv("TMPROV_TEST_BIN"), *name;
	json_t *svc;
	int n = 0;

	(void)state;
	assert_non_null(bin);
	json_object_foreach(services, name, svc)
	{
		const json_t *cmd = json_object_get(svc, "command");
		char path[1024];

		if (!ours(svc))
			continue;
		if (!json_is_array(cmd) || json_array_size(cmd) == 0)
			fail_msg("service %s: command must be a list naming a program", name);
		snprintf(path, sizeof(path), "%s/%s", bin,
			 json_string_value(json_array_get(cmd, 0)));
		if (access(path, X_OK) != 0)
			fail_msg("service %s runs %s, which the build does not make", name, path);
		n++;
	}
	assert_true(n >= 4);
	assert_string_equal(
	    json_string_value(
		json_array_get(json_object_get(json_object_get(services, "worker"), "command"), 0)),
	    "tmprov-worker");
	assert_string_equal(
	    json_string_value(json_array_get(
		json_object_get(json_object_get(services, "callback"), "command"), 0)),
	    "tmprov-callback");
}

static void
test_depends_and_health(void **state)
{
	const char *name, *dname;
	json_t *svc, *dep;
	int healthy = 0;

	(void)state;
	json_object_foreach(services, name, svc)
	{
		const json_t *hc = json_object_get(svc, "healthcheck");

		if (!one_shot(name) &&
		    (!json_is_object(hc) || json_array_size(json_object_get(hc, "test")) < 2))
			fail_msg("long-running service %s has no healthcheck", name);
		if (one_shot(name) && json_object_get(svc, "restart") != NULL &&
		    strcmp(str(svc, "restart"), "no") != 0)
			fail_msg("one-shot service %s would be restarted", name);
		json_object_foreach(json_object_get(svc, "depends_on"), dname, dep)
		{
			const char *cond = str(dep, "condition");
			const json_t *target = json_object_get(services, dname);

			if (target == NULL)
				fail_msg("%s depends on %s, which is no service", name, dname);
			if (strcmp(cond, "service_healthy") == 0) {
				healthy++;
				if (json_object_get(target, "healthcheck") == NULL)
					fail_msg("%s waits for %s to be healthy: it has no "
						 "healthcheck",
						 name, dname);
			} else if (strcmp(cond, "service_completed_successfully") != 0 &&
				   strcmp(cond, "service_started") != 0) {
				fail_msg("%s depends on %s with condition \"%s\"", name, dname,
					 cond);
			}
		}
	}
	assert_true(healthy >= 4);
	/* The programs start only once the schema is in place. */
	assert_true(one_shot("migrate"));
	{
		const json_t *deps =
		    json_object_get(json_object_get(services, "worker"), "depends_on");

		assert_string_equal(str(json_object_get(deps, "migrate"), "condition"),
				    "service_completed_successfully");
		deps = json_object_get(json_object_get(services, "callback"), "depends_on");
		assert_string_equal(str(json_object_get(deps, "migrate"), "condition"),
				    "service_completed_successfully");
	}
}

static void
test_shape(void **state)
{
	const json_t *worker = json_object_get(services, "worker");
	const json_t *kafka = json_object_get(services, "kafka");
	const json_t *migrate = json_object_get(services, "migrate");
	const json_t *env = json_object_get(kafka, "environment");

	(void)state;
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(worker, "deploy"), "replicas")), 2);
	assert_int_equal(strncmp(str(kafka, "image"), "apache/kafka:", 13), 0);
	assert_non_null(strstr(str(env, "KAFKA_PROCESS_ROLES"), "controller"));
	assert_non_null(strstr(str(env, "KAFKA_PROCESS_ROLES"), "broker"));
	assert_true(json_object_get(env, "KAFKA_CONTROLLER_QUORUM_VOTERS") != NULL);
	assert_string_equal(str(migrate, "restart"), "no");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(migrate, "command"), 1)), "migrate");
}

/* Every TMPROV_ setting given to a tmprov container is one a program documents. */
static void
test_settings_known(void **state)
{
	static const char *const progs[] = {"tmprov-worker", "tmprov-callback", "tmsim"};
	const char *name, *key;
	json_t *svc, *v;
	char *known = calloc(1, 1);
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]) + 1; i++) {
		const char *argv[] = {i < 3 ? progs[i] : "tmprov", "--help-config", NULL, NULL};
		struct clirun r;

		if (i == 3)
			argv[1] = "migrate", argv[2] = "--help-config";
		clirun(&r, argv, NULL, RUN_MS);
		assert_int_equal(r.status, 0);
		known = realloc(known, len + strlen(r.out) + 1);
		assert_non_null(known);
		strcpy(known + len, r.out);
		len += strlen(r.out);
		clirun_free(&r);
	}
	json_object_foreach(services, name, svc)
	{
		if (!ours(svc))
			continue;
		json_object_foreach(json_object_get(svc, "environment"), key, v)
		{
			char cell[128];

			snprintf(cell, sizeof(cell), "| %s |", key);
			if (strncmp(key, "TMPROV_", 7) == 0 && strstr(known, cell) == NULL)
				fail_msg("service %s sets %s, which no program knows", name, key);
		}
	}
	free(known);
}

/* A development tool (make install-devtools) that some service of ours runs. */
static const char *
devtool_run(void)
{
	static const char *const devtools[] = {"tmsim", "tmprov-devkafka", "tmprov-bench"};
	const char *name;
	json_t *svc;

	json_object_foreach(services, name, svc)
	{
		const char *prog =
		    json_string_value(json_array_get(json_object_get(svc, "command"), 0));

		for (size_t i = 0; ours(svc) && prog && i < sizeof(devtools) / sizeof(devtools[0]);
		     i++)
			if (strcmp(prog, devtools[i]) == 0)
				return prog;
	}
	return NULL;
}

static void
test_dockerfile(void **state)
{
	FILE *f = fopen(dockerfile, "r");
	char line[1024];
	int from = 0, bookworm = 0, copy_from = 0, named = 0, devtools = 0;
	const char *devtool = devtool_run();

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "FROM ", 5) == 0) {
			from++;
			bookworm += strstr(line, "debian:bookworm") != NULL;
			named += strstr(line, " AS ") != NULL;
		}
		copy_from += strncmp(line, "COPY --from=", 12) == 0;
		devtools +=
		    strncmp(line, "RUN ", 4) == 0 && strstr(line, " install-devtools") != NULL;
	}
	fclose(f);
	assert_true(from >= 2);
	assert_int_equal(bookworm, from);
	assert_true(named >= 1);
	assert_true(copy_from >= 1);
	/* make install puts only the production programs in the image. */
	if (devtool != NULL && devtools == 0)
		fail_msg("a service runs %s, which only make install-devtools installs, and the "
			 "Dockerfile does not run it",
			 devtool);
}

/* `docker compose config` where a compose client is installed (it needs no engine). */
static void
test_compose_config(void **state)
{
	const char *docker = tprog_optional("docker");
	const char *version[] = {docker, "compose", "version", NULL};
	const char *config[] = {docker, "compose", "-f", compose, "config", "-q", NULL};
	struct clirun r;

	(void)state;
	if (docker == NULL) {
		fprintf(stderr, "# no docker client here: the YAML checks above stand\n");
		return;
	}
	clirun(&r, version, NULL, RUN_MS);
	if (r.status != 0) {
		fprintf(stderr, "# no docker compose client here: the YAML checks above stand\n");
		clirun_free(&r);
		return;
	}
	clirun_free(&r);
	clirun(&r, config, NULL, RUN_MS);
	if (r.status != 0)
		clirun_dump(&r, "docker compose config");
	assert_int_equal(r.status, 0);
	clirun_free(&r);
}

static int
setup(void **state)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	const char *argv[] = {tprog_python("yaml"), "-c",
			      "import sys, json, yaml\n"
			      "json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)\n",
			      compose, NULL};
	struct clirun r;
	json_t *doc;

	(void)state;
	if (src == NULL) {
		fprintf(stderr, "TMPROV_TEST_SRC is not set\n");
		return -1;
	}
	snprintf(compose, sizeof(compose), "%s/docker-compose.yml", src);
	snprintf(dockerfile, sizeof(dockerfile), "%s/Dockerfile", src);
	clirun(&r, argv, NULL, RUN_MS);
	if (r.status != 0) {
		clirun_dump(&r, "python3 yaml");
		clirun_free(&r);
		return -1;
	}
	doc = json_loads(r.out, 0, NULL);
	clirun_free(&r);
	services = json_incref(json_object_get(doc, "services"));
	json_decref(doc);
	return json_is_object(services) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(services);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_services),	       cmocka_unit_test(test_commands_exist),
	    cmocka_unit_test(test_depends_and_health), cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_settings_known),     cmocka_unit_test(test_dockerfile),
	    cmocka_unit_test(test_compose_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
