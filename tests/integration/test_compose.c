/* A static check of docker-compose.yml and the Dockerfile, since no container engine runs in
 * `make check`: the YAML (read by python3-yaml, checked here) has the services the deployment
 * needs; every tmprov service runs a program the build makes; every depends_on names a
 * service, waits on a condition that service can meet (a healthcheck, or a one-shot that
 * completes); every long-running service has a healthcheck; two workers; Kafka in KRaft mode;
 * every TMPROV_ setting is one a program knows; the Dockerfile is a multi-stage bookworm
 * build; no secret inline (compose secrets read through the NAME_FILE settings); stop grace
 * periods above the programs' drains; PostgreSQL's data on a named volume; the version passed
 * into the image as a build argument. `docker compose config` runs too where a compose client
 * exists. */
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

static json_t *doc, *services;
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

static char *known_settings(void);

/* Every TMPROV_ setting given to a tmprov container is one a program documents. */
static void
test_settings_known(void **state)
{
	const char *name, *key;
	json_t *svc, *v;
	char *known = known_settings();

	(void)state;
	json_object_foreach(services, name, svc)
	{
		if (!ours(svc))
			continue;
		json_object_foreach(json_object_get(svc, "environment"), key, v)
		{
			char cell[128], file_form[128];

			snprintf(cell, sizeof(cell), "| %s |", key);
			/* a secret's NAME_FILE is documented in NAME's row */
			snprintf(file_form, sizeof(file_form), "(or %s:", key);
			if (strncmp(key, "TMPROV_", 7) == 0 && strstr(known, cell) == NULL &&
			    strstr(known, file_form) == NULL)
				fail_msg("service %s sets %s, which no program knows", name, key);
		}
	}
	free(known);
}

/* The settings tables of the programs the services run (--help-config), concatenated. */
static char *
known_settings(void)
{
	static const char *const progs[] = {"tmprov-worker", "tmprov-callback", "tmsim"};
	char *known = calloc(1, 1);
	size_t len = 0;

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
	return known;
}

/* Whether the service lists secret name (short form "name" or long {source: name}). */
static bool
has_secret(const json_t *svc, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(svc, "secrets"), i, s)
	{
		const char *n = json_is_string(s) ? json_string_value(s) : str(s, "source");

		if (strcmp(n, name) == 0)
			return true;
	}
	return false;
}

/* A file setting must name /run/secrets/X, X a secret of the file and of the service. */
static void
check_secret_file(const char *svcname, const json_t *svc, const char *key, const char *path)
{
	const char *secret = path + strlen("/run/secrets/");

	if (strncmp(path, "/run/secrets/", 13) != 0)
		fail_msg("%s: %s=%s is not a compose secret", svcname, key, path);
	if (json_object_get(json_object_get(doc, "secrets"), secret) == NULL)
		fail_msg("%s: %s names secret %s, which the file does not define", svcname, key,
			 secret);
	if (!has_secret(svc, secret))
		fail_msg("%s: %s names secret %s, which the service is not given", svcname, key,
			 secret);
}

/* No secret setting inline: secrets come as compose secrets through the NAME_FILE settings. */
static void
test_secrets(void **state)
{
	char *known = known_settings();
	const char *name, *key;
	json_t *svc, *v;
	int files = 0;

	(void)state;
	json_object_foreach(services, name, svc)
	{
		json_object_foreach(json_object_get(svc, "environment"), key, v)
		{
			char row[160];
			const char *line;
			size_t n = strlen(key);

			snprintf(row, sizeof(row), "| %s |", key);
			line = strstr(known, row);
			if (line != NULL && strstr(line, "(secret") != NULL &&
			    strstr(line, "(secret") < strchr(line, '\n'))
				fail_msg("service %s sets secret %s inline: use %s_FILE", name, key,
					 key);
			if (strcmp(key, "POSTGRES_PASSWORD") == 0)
				fail_msg("service %s sets POSTGRES_PASSWORD inline", name);
			if (n > 5 && strcmp(key + n - 5, "_FILE") == 0) {
				check_secret_file(name, svc, key, json_string_value(v));
				files++;
			}
		}
	}
	/* the database URL and the partner id of the programs, PostgreSQL's password */
	assert_true(files >= 3);
	free(known);
}

/* `docker stop` waits stop_grace_period before SIGKILL: above each program's drain. */
static void
test_stop_grace(void **state)
{
	static const struct {
		const char *service, *prog, *key;
		long after_s; /* what the program does after the drain */
	} progs[] = {
	    {"worker", "tmprov-worker", "TMPROV_DRAIN_TIMEOUT", 15},
	    {"callback", "tmprov-callback", "TMPROV_CALLBACK_DRAIN_TIMEOUT", 5},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *argv[] = {progs[i].prog, "--print-config", NULL};
		const char *env[] = {"TMPROV_TM_URL=http://127.0.0.1:1", "TMPROV_PARTNER_ID=p",
				     NULL};
		const char *grace =
		    str(json_object_get(services, progs[i].service), "stop_grace_period");
		char want[128];
		struct clirun r;
		const char *p;
		long drain_s, grace_s;
		char *end;

		clirun(&r, argv, env, RUN_MS);
		assert_int_equal(r.status, 0);
		snprintf(want, sizeof(want), "%s=", progs[i].key);
		assert_non_null(p = strstr(r.out, want));
		drain_s = strtol(p + strlen(want), &end, 10);
		assert_true(*end == 's'); /* the default is written in seconds */
		clirun_free(&r);
		grace_s = strtol(grace, &end, 10);
		if (strcmp(end, "m") == 0)
			grace_s *= 60;
		else if (strcmp(end, "s") != 0)
			fail_msg("%s: stop_grace_period \"%s\" (want NNs or NNm)", progs[i].service,
				 grace);
		if (grace_s < drain_s + progs[i].after_s)
			fail_msg("%s: stop_grace_period %s, below its drain of %lds and %lds after",
				 progs[i].service, grace, drain_s, progs[i].after_s);
	}
}

/* PostgreSQL's data directory on a named volume the file declares. */
static void
test_postgres_volume(void **state)
{
	const json_t *vols = json_object_get(json_object_get(services, "postgres"), "volumes");
	size_t i;
	json_t *v;
	bool found = false;

	(void)state;
	json_array_foreach(vols, i, v)
	{
		const char *spec = json_string_value(v);
		const char *colon = spec ? strchr(spec, ':') : NULL;
		char name[128];

		if (colon == NULL || strncmp(colon + 1, "/var/lib/postgresql/data", 24) != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(colon - spec), spec);
		if (json_object_get(json_object_get(doc, "volumes"), name) == NULL)
			fail_msg("postgres: volume %s is not a named volume of the file", name);
		found = true;
	}
	if (!found)
		fail_msg("postgres: no named volume at /var/lib/postgresql/data");
}

/* The image learns its version from a build argument (.dockerignore leaves .git out), which
 * the Makefile passes. */
static void
test_version_build_arg(void **state)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	const json_t *build = json_object_get(json_object_get(services, "worker"), "build");
	const char *arg = str(json_object_get(build, "args"), "TMPROV_VERSION");
	char path[1024], line[1024];
	bool declared = false, used = false, passed = false;
	FILE *f;

	(void)state;
	if (strstr(arg, "${TMPROV_VERSION") == NULL)
		fail_msg("worker: build.args.TMPROV_VERSION is \"%s\" (want ${TMPROV_VERSION...})",
			 arg);
	assert_non_null(f = fopen(dockerfile, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		declared |= strncmp(line, "ARG TMPROV_VERSION", 18) == 0;
		used |= strstr(line, "VERSION=\"$TMPROV_VERSION\"") != NULL;
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/Makefile", src);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		passed |= strstr(line, "TMPROV_VERSION=$(VERSION) docker compose build") != NULL;
	fclose(f);
	assert_true(declared);
	assert_true(used);
	assert_true(passed);
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
	services = json_object_get(doc, "services");
	return json_is_object(services) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(doc);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_services),	       cmocka_unit_test(test_commands_exist),
	    cmocka_unit_test(test_depends_and_health), cmocka_unit_test(test_shape),
	    cmocka_unit_test(test_settings_known),     cmocka_unit_test(test_dockerfile),
	    cmocka_unit_test(test_compose_config),     cmocka_unit_test(test_secrets),
	    cmocka_unit_test(test_stop_grace),	       cmocka_unit_test(test_postgres_volume),
	    cmocka_unit_test(test_version_build_arg),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
