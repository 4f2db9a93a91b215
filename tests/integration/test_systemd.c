/* The programs under systemd (issue 13, item 2): the unit files of contrib/systemd pass
 * `systemd-analyze verify` without a word, are hardened, and stop no sooner than the drain
 * allows; tmprov-worker and tmprov-callback tell a NOTIFY_SOCKET (a real AF_UNIX datagram
 * socket made here) READY=1 once working, WATCHDOG=1 while WATCHDOG_USEC is set and
 * STOPPING=1 at shutdown; SIGHUP re-reads the
 * --config file: the log level changes (debug lines appear) and the process lives on. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/clirun.h"
#include "../support/kafka_util.h"
#include "../support/testdb.h"
#include "../support/tprog.h"

#define RUN_MS	 30000
#define WAIT_MS	 30000
#define UNITS	 "contrib/systemd"
#define TEXT_MAX 65536

static const char *const units[] = {"tmprov-worker@.service", "tmprov-callback.service",
				    "tmprov-migrate.service"};

static char *
slurp(const char *path)
{
	char *text = calloc(1, TEXT_MAX + 1);
	FILE *f = fopen(path, "r");

	assert_non_null(text);
	if (f == NULL)
		fail_msg("cannot read %s", path);
	text[fread(text, 1, TEXT_MAX, f)] = '\0';
	fclose(f);
	return text;
}

/* The value of the unit's "Key=" line (a static copy), or NULL. */
static const char *
unit_value(const char *text, const char *key)
{
	static char value[512];
	char want[64];
	const char *p = text;

	snprintf(want, sizeof(want), "\n%s=", key);
	if ((p = strstr(p, want)) == NULL)
		return NULL;
	p += strlen(want);
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(p, "\n"), p);
	return value;
}

/* Copies the units to dir with each ExecStart's program taken from this build (the
 * installed directory replaced by $TMPROV_TEST_BIN). */
static void
units_for_build(const char *dir)
{
	const char *src = getenv("TMPROV_TEST_SRC"), *bin = getenv("TMPROV_TEST_BIN");

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char path[1024], *text;
		FILE *out;

		snprintf(path, sizeof(path), "%s/%s/%s", src, UNITS, units[i]);
		text = slurp(path);
		snprintf(path, sizeof(path), "%s/%s", dir, units[i]);
		out = fopen(path, "w");
		assert_non_null(out);
		for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
			size_t word = strcspn(line, " ");
			const char *slash = memrchr(line, '/', word);

			if (strncmp(line, "ExecStart=", 10) == 0 && slash != NULL)
				fprintf(out, "ExecStart=%s%s\n", bin, slash);
			else
				fprintf(out, "%s\n", line);
		}
		fclose(out);
		free(text);
	}
}

static void
test_units_verify_clean(void **state)
{
	char dir[600], paths[3][700];
	const char *argv[] = {
	    tprog("systemd-analyze"), "verify", "--man=no", paths[0], paths[1], paths[2], NULL};
	struct clirun r;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/units", getenv("TMPROV_TEST_TMP"));
	mkdir(dir, 0755);
	units_for_build(dir);
	/* the template is verified through an instance */
	snprintf(paths[0], sizeof(paths[0]), "%s/tmprov-worker@9464.service", dir);
	snprintf(paths[1], sizeof(paths[1]), "%s/tmprov-callback.service", dir);
	snprintf(paths[2], sizeof(paths[2]), "%s/tmprov-migrate.service", dir);
	clirun(&r, argv, NULL, RUN_MS);
	if (r.status != 0 || r.out[0] != '\0' || r.err[0] != '\0') {
		clirun_dump(&r, "systemd-analyze verify");
		fail_msg("systemd-analyze verify is not clean");
	}
	clirun_free(&r);
}

/* Seconds of a systemd time span such as "90s", "2min", "1min 30s". */
static long
span_s(const char *s)
{
	long total = 0;

	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s)
			fail_msg("time span \"%s\"", s);
		total += strncmp(end, "min", 3) == 0 ? v * 60 : v;
		s = end + strcspn(end, " ");
		s += strspn(s, " ");
	}
	return total;
}

/* The default of a program's duration setting, in seconds, from --print-config. */
static long
default_s(const char *prog, const char *key)
{
	const char *argv[] = {prog, "--print-config", NULL};
	const char *env[] = {"TMPROV_TM_URL=http://127.0.0.1:1", "TMPROV_PARTNER_ID=p", NULL};
	char want[128];
	struct clirun r;
	const char *p;
	long ms;

	clirun(&r, argv, env, RUN_MS);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "%s=", key);
	p = strstr(r.out, want);
	assert_non_null(p);
	ms = strtol(p + strlen(want), NULL, 10) * 1000; /* "30s" */
	clirun_free(&r);
	return ms / 1000;
}

static void
test_units_hardened(void **state)
{
	static const char *const must[][2] = {
	    {"DynamicUser", "yes"},	   {"ProtectSystem", "strict"},
	    {"NoNewPrivileges", "yes"},	   {"PrivateTmp", "yes"},
	    {"ProtectHome", "yes"},	   {"PrivateDevices", "yes"},
	    {"CapabilityBoundingSet", ""}, {"RestrictNamespaces", "yes"},
	};
	const char *src = getenv("TMPROV_TEST_SRC");
	long drain[] = {default_s("tmprov-worker", "TMPROV_DRAIN_TIMEOUT"),
			default_s("tmprov-callback", "TMPROV_CALLBACK_DRAIN_TIMEOUT")};

	(void)state;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char path[1024], *text;
		const char *v;

		snprintf(path, sizeof(path), "%s/%s/%s", src, UNITS, units[i]);
		text = slurp(path);
		for (size_t m = 0; m < sizeof(must) / sizeof(must[0]); m++) {
			v = unit_value(text, must[m][0]);
			if (v == NULL || strcmp(v, must[m][1]) != 0)
				fail_msg("%s: want %s=%s", units[i], must[m][0], must[m][1]);
		}
		v = unit_value(text, "RestrictAddressFamilies");
		if (v == NULL || strstr(v, "AF_PACKET") != NULL || strstr(v, "AF_INET") == NULL)
			fail_msg("%s: RestrictAddressFamilies", units[i]);
		if (i < 2) {
			assert_string_equal(unit_value(text, "Type"), "notify");
			assert_non_null(unit_value(text, "WatchdogSec"));
			assert_non_null(strstr(unit_value(text, "ExecReload"), "-HUP"));
			v = unit_value(text, "TimeoutStopSec");
			assert_non_null(v);
			/* above the drain, and the worker's publish and flush after it */
			if (span_s(v) < drain[i] + (i == 0 ? 15 : 5))
				fail_msg("%s: TimeoutStopSec=%s, drain %lds", units[i], v,
					 drain[i]);
		} else {
			assert_string_equal(unit_value(text, "Type"), "oneshot");
		}
		free(text);
	}
}

/* A datagram socket at a fresh path for NOTIFY_SOCKET. */
static int
notify_socket(char *path, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {0, 200 * 1000};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(path, len, "%s/notify-%ld.sock", getenv("TMPROV_TEST_TMP"), (long)getpid());
	unlink(path);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads datagrams until one holds the line want, or the deadline. */
static bool
notify_wait(int fd, const char *want, long ms, char *seen, size_t seenlen)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			buf[n] = '\0';
			strncat(seen, buf, seenlen - strlen(seen) - 2);
			strcat(seen, "|");
			for (char *l = strtok(buf, "\n"); l != NULL; l = strtok(NULL, "\n"))
				if (strcmp(l, want) == 0)
					return true;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
	return false;
}

static void
write_conf(const char *path, const char *level)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "# written by test_systemd\nTMPROV_LOG_LEVEL=%s\n", level);
	fclose(f);
}

/* READY=1, a SIGHUP that changes the log level (debug lines appear, the process lives and
 * stays ready), STOPPING=1 and exit 0 at SIGTERM: the worker and the callback. */
static void
test_notify_and_reload(void **state)
{
	static const char *const progs[] = {"tmprov-worker", "tmprov-callback"};
	char conf[600], sock[600], set_sock[700], set_db[2100], set_brokers[600], err[256];
	struct ku_devkafka dk;
	struct testdb db;

	(void)state;
	/* a broker of its own, whose tm.commands the worker's group is assigned at once */
	if (ku_devkafka_start(&dk, NULL, err, sizeof(err)) != 0)
		fail_msg("tmprov-devkafka: %s", err);
	assert_int_equal(testdb_create(&db, "systemd", err, sizeof(err)), 0);
	assert_int_equal(testdb_migrate(&db, err, sizeof(err)), 0);
	snprintf(conf, sizeof(conf), "%s/systemd-test.conf", getenv("TMPROV_TEST_TMP"));
	snprintf(set_db, sizeof(set_db), "TMPROV_DATABASE_URL=%s", db.conninfo);
	snprintf(set_brokers, sizeof(set_brokers), "TMPROV_KAFKA_BROKERS=%s", dk.bootstrap);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *argv[] = {progs[i], "--config", conf, NULL};
		int fd = notify_socket(sock, sizeof(sock));
		char seen[8192] = "";
		/* WatchdogSec=2s, as systemd sets it: WATCHDOG=1 at least every second */
		const char *env[] = {set_sock,
				     "WATCHDOG_USEC=2000000",
				     set_db,
				     set_brokers,
				     "TMPROV_TM_URL=http://127.0.0.1:1",
				     "TMPROV_PARTNER_ID=p",
				     "TMPROV_ADMIN_LISTEN=127.0.0.1:0",
				     "TMPROV_CALLBACK_LISTEN=127.0.0.1:0",
				     NULL};
		struct clirun r;

		snprintf(set_sock, sizeof(set_sock), "NOTIFY_SOCKET=%s", sock);
		write_conf(conf, "info");
		clirun_start(&r, argv, env, NULL);
		if (!notify_wait(fd, "READY=1", WAIT_MS, seen, sizeof(seen))) {
			clirun_stop(&r, RUN_MS);
			clirun_dump(&r, progs[i]);
			fail_msg("%s: no READY=1 on NOTIFY_SOCKET (got: %s)", progs[i], seen);
		}
		if (!notify_wait(fd, "WATCHDOG=1", WAIT_MS, seen, sizeof(seen))) {
			clirun_stop(&r, RUN_MS);
			fail_msg("%s: no WATCHDOG=1 with WATCHDOG_USEC set (got: %s)", progs[i],
				 seen);
		}
		/* at info, no debug line yet */
		assert_int_equal(clirun_wait_output(&r, 2, "\"level\":\"debug\"", 1), -1);
		write_conf(conf, "debug");
		assert_int_equal(kill(r.pid, SIGHUP), 0);
		if (clirun_wait_output(&r, 2, "\"level\":\"debug\"", WAIT_MS) != 0 ||
		    clirun_wait_output(&r, 2, "TMPROV_LOG_LEVEL changed", 1) != 0) {
			clirun_stop(&r, RUN_MS);
			clirun_dump(&r, progs[i]);
			fail_msg("%s: SIGHUP did not turn on debug lines", progs[i]);
		}
		/* alive: it answers another reload, and READY=1 follows each one */
		assert_int_equal(kill(r.pid, 0), 0);
		assert_true(notify_wait(fd, "READY=1", WAIT_MS, seen, sizeof(seen)));
		clirun_stop(&r, RUN_MS);
		if (r.status != 0 || !notify_wait(fd, "STOPPING=1", 1000, seen, sizeof(seen)) ||
		    strstr(r.err, "\"level\":\"debug\"") <
			strstr(r.err, "TMPROV_LOG_LEVEL changed")) {
			clirun_dump(&r, progs[i]);
			fail_msg("%s: exit %d, STOPPING=1 or the order of lines (got: %s)",
				 progs[i], r.status, seen);
		}
		clirun_free(&r);
		close(fd);
		unlink(sock);
	}
	testdb_drop(&db);
	ku_devkafka_stop(&dk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_units_verify_clean),
	    cmocka_unit_test(test_units_hardened),
	    cmocka_unit_test(test_notify_and_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
