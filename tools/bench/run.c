/* bench_run: `tmprov-bench SCENARIO`, the load generator behind `make bench`
 * (tools/bench/bench.sh): runs one round of one scenario and prints its figures as one JSON
 * object on stdout. */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "password.h"
#include "tm_client.h"

static const char BENCH_USAGE[] =
    "usage: tmprov-bench SCENARIO [--duration DUR | --calls N] [options]\n"
    "\n"
    "Runs one round of a benchmark scenario and prints one JSON object on stdout:\n"
    "{\"scenario\", \"unit\", \"params\", \"figures\": {\"rate\", ...}, \"counts\"}.\n"
    "tools/bench/bench.sh (make bench) runs every scenario in rounds on a private stack.\n"
    "\n"
    "scenarios:\n"
    "  tmsim-capacity  query_account calls kept in flight at --concurrency over kept-alive\n"
    "                  connections (curl multi, one thread) against TMPROV_TM_URL\n"
    "  tm-client       calls through common/tm_client from --threads threads (8);\n"
    "                  --mode query: query_account, connection reused (idempotent);\n"
    "                  --mode create: create_account, a fresh connection each (exactly-once);\n"
    "                  --mode loop-query, loop-create: the same through one common/tm_loop\n"
    "                  keeping --threads calls in flight\n"
    "  hash            argon2id at TMPROV_ARGON2_OPSLIMIT/MEMLIMIT on --threads threads (0: all\n"
    "                  online CPUs); --mode new: verifiers made, --mode verify: checked\n"
    "  pg-reference    pgbench, --connections clients, on a fresh pre-loaded database beside\n"
    "                  TMPROV_DATABASE_URL's, running the programs' own statements:\n"
    "                  --mode worker: one command per transaction, weighed as the mixed load\n"
    "                  of --commands over --subjects; --mode callback: the meeting list\n"
    "  worker          tmprov-worker (--workers processes, one group) on its own broker\n"
    "                  (--partitions) and database, TMPROV_TM_URL (a tmsim) adding\n"
    "                  --tm-latency per call: --commands over --subjects, --mode mixed|tm|\n"
    "                  password|import; pre-loaded and timed from the start (--prestart: from all\n"
    "                  workers assigned) to the last outcome read, or produced at --rate/s\n"
    "                  with per-command latencies\n"
    "  callback        tmprov-callback on a fresh database with --subjects users, loaded by wrk\n"
    "                  (--threads, --connections): --mode meetings: the meeting list of valid\n"
    "                  sessions; fail: logins of unknown users; login: successful logins\n"
    "\n"
    "  --duration DUR     measure this long, e.g. 5s, 500ms (default 5s)\n"
    "  --calls N          or stop after N calls / hashes / transactions\n"
    "  --concurrency N    tmsim-capacity: transfers in flight; worker: its concurrency (64)\n"
    "  --threads N        tm-client (8), hash (0 = online CPUs), callback: wrk's (2)\n"
    "  --mode M           the scenario's variant (see above)\n"
    "  --connections N    pg-reference: pgbench clients (8); callback: wrk connections (8)\n"
    "  --subjects N       pg-reference, worker: distinct subjects (5000); callback: users\n"
    "  --pgbench PATH     pg-reference: the pgbench program (required; bench.sh finds it)\n"
    "  --wrk PATH         callback: the wrk program (required; bench.sh finds it)\n"
    "  --commands N       worker: commands in the load; pg-reference: the mix's (50000)\n"
    "  --workers N        worker: tmprov-worker processes (1)\n"
    "  --partitions N     worker: partitions of the commands topic (12)\n"
    "  --tm-latency DUR   worker: latency tmsim adds to every call (0)\n"
    "  --rate N           worker: produce N commands/s instead of pre-loading them\n"
    "  --db-pool N        worker: TMPROV_DB_POOL (8)\n"
    "  --tm-rate N        worker: TMPROV_TM_RATE, TM calls/s for the group (0: no limit)\n"
    "  --prestart         worker: start and assign the workers before the load\n"
    "  --config FILE      KEY=value settings (the environment wins)\n"
    "\n"
    "Every call must succeed: a round with a failed call exits 1, since fast failures would\n"
    "inflate the figures. Exit status: 0 done, 1 failed, 2 usage error.\n";

#define BENCH_DURATION_DEFAULT_MS 5000

struct bench_scenario {
	const char *name;
	bench_fn run;
	const char *modes; /* the --mode values it takes, "a|b" */
	const char *mode;  /* the default --mode */
	long threads;	   /* default --threads */
};

static const struct bench_scenario BENCH_SCENARIOS[] = {
    {"tmsim-capacity", bench_tmsim_capacity, "", "", 0},
    {"tm-client", bench_tm_client, "query|create|loop-query|loop-create", "query", 8},
    {"hash", bench_hash, "new|verify|libsodium", "new", 0},
    {"pg-reference", bench_pg_reference, "worker|callback", "worker", 0},
    {"worker", bench_worker, "mixed|tm|password|import", "mixed", 0},
    {"callback", bench_callback, "meetings|fail|login", "meetings", 2},
};

static int bench_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
bench_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tmprov-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(tmprov-bench --help describes the options)\n");
	return BENCH_EXIT_USAGE;
}

/* A positive count option; 0 when it is not one. */
static long
bench_count(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v > 0 ? v : 0;
}

/* Sets the option --flag (short code ch) from arg. */
static int
bench_set(struct bench_opts *o, int ch, const char *flag, const char *arg)
{
	long v = arg ? bench_count(arg) : 0, *dst = NULL;

	switch (ch) {
	case 'd':
		if (cfg_parse_ms(arg, &o->duration_ms) != 0 || o->duration_ms <= 0)
			return bench_usage_error("--%s: %s is not a duration", flag, arg);
		return BENCH_EXIT_OK;
	case 'm':
		o->mode = arg;
		return BENCH_EXIT_OK;
	case 'p':
		o->pgbench = arg;
		return BENCH_EXIT_OK;
	case 'w':
		o->wrk = arg;
		return BENCH_EXIT_OK;
	case 'P':
		o->prestart = true;
		return BENCH_EXIT_OK;
	case 'L':
		if (cfg_parse_ms(arg, &o->tm_latency_ms) != 0 || o->tm_latency_ms < 0)
			return bench_usage_error("--%s: %s is not a duration", flag, arg);
		return BENCH_EXIT_OK;
	case 't': /* --threads 0 means the online CPUs */
		if (strcmp(arg, "0") != 0 && v == 0)
			return bench_usage_error("--%s: %s is not a count", flag, arg);
		o->threads = v;
		return BENCH_EXIT_OK;
	case 'n':
		dst = &o->calls;
		break;
	case 'c':
		dst = &o->concurrency;
		break;
	case 'C':
		dst = &o->connections;
		break;
	case 'S':
		dst = &o->subjects;
		break;
	case 'N':
		dst = &o->commands;
		break;
	case 'W':
		dst = &o->workers;
		break;
	case 'T':
		dst = &o->partitions;
		break;
	case 'R':
		dst = &o->rate;
		break;
	case 'D':
		dst = &o->db_pool;
		break;
	case 'r':
		dst = &o->tm_rate;
		break;
	}
	if (v == 0)
		return bench_usage_error("--%s: %s is not a positive count", flag, arg);
	*dst = v;
	return BENCH_EXIT_OK;
}

static int
bench_parse_flags(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
	    {"duration", required_argument, NULL, 'd'},
	    {"calls", required_argument, NULL, 'n'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"threads", required_argument, NULL, 't'},
	    {"mode", required_argument, NULL, 'm'},
	    {"connections", required_argument, NULL, 'C'},
	    {"subjects", required_argument, NULL, 'S'},
	    {"pgbench", required_argument, NULL, 'p'},
	    {"wrk", required_argument, NULL, 'w'},
	    {"commands", required_argument, NULL, 'N'},
	    {"workers", required_argument, NULL, 'W'},
	    {"partitions", required_argument, NULL, 'T'},
	    {"tm-latency", required_argument, NULL, 'L'},
	    {"rate", required_argument, NULL, 'R'},
	    {"db-pool", required_argument, NULL, 'D'},
	    {"tm-rate", required_argument, NULL, 'r'},
	    {"prestart", no_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	int ch, rc, li = 0;

	optind = 2; /* argv[1] is the scenario */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, &li)) != -1) {
		if (ch == ':')
			return bench_usage_error("%s needs a value", argv[optind - 1]);
		if (ch == '?')
			return bench_usage_error("unknown option %s", argv[optind - 1]);
		rc = bench_set(o, ch, longopts[li].name, optarg);
		if (rc != BENCH_EXIT_OK)
			return rc;
	}
	if (optind < argc)
		return bench_usage_error("unexpected argument %s", argv[optind]);
	/* --calls alone bounds the round by count; the default duration would cut it short. */
	if (o->duration_ms < 0)
		o->duration_ms = o->calls > 0 ? 0 : BENCH_DURATION_DEFAULT_MS;
	return BENCH_EXIT_OK;
}

static bool
bench_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static const struct bench_scenario *
bench_find(const char *name)
{
	for (size_t i = 0; i < sizeof(BENCH_SCENARIOS) / sizeof(BENCH_SCENARIOS[0]); i++)
		if (strcmp(name, BENCH_SCENARIOS[i].name) == 0)
			return &BENCH_SCENARIOS[i];
	return NULL;
}

/* Checks --mode against the scenario's modes, or sets the default. */
static int
bench_mode(const struct bench_scenario *sc, struct bench_opts *o)
{
	const char *p = sc->modes;
	size_t n;

	if (o->mode == NULL) {
		o->mode = sc->mode;
		return BENCH_EXIT_OK;
	}
	while (*p != '\0') {
		n = strcspn(p, "|");
		if (n > 0 && strlen(o->mode) == n && strncmp(p, o->mode, n) == 0)
			return BENCH_EXIT_OK;
		p += n + (p[n] == '|');
	}
	fprintf(stderr, "tmprov-bench: %s takes --mode %s, not %s\n", sc->name,
		*sc->modes ? sc->modes : "(none)", o->mode);
	return BENCH_EXIT_USAGE;
}

static struct cfg *
bench_cfg(void)
{
	struct cfg *c = cfg_new();

	if (c == NULL || cfg_add_keys(c, TM_CONFIG_KEYS, TM_CONFIG_NKEYS) != 0 ||
	    cfg_add_keys(c, PASSWORD_CONFIG_KEYS, PASSWORD_CONFIG_NKEYS) != 0 ||
	    cfg_add_keys(c, DB_CONFIG_KEYS, DB_CONFIG_NKEYS) != 0 ||
	    cfg_add_keys(c, MIGRATE_CONFIG_KEYS, MIGRATE_CONFIG_NKEYS) != 0) {
		cfg_free(c);
		return NULL;
	}
	return c;
}

/* {"scenario", "unit", "params", "figures", "counts"} on one line of stdout; takes r's objects. */
static int
bench_print(const struct bench_scenario *sc, struct bench_result *r)
{
	json_t *obj = json_pack("{s:s, s:s, s:o, s:o, s:o}", "scenario", sc->name, "unit", r->unit,
				"params", r->params, "figures", r->figures, "counts", r->counts);
	int rc;

	r->params = r->figures = r->counts = NULL; /* json_pack's "o" took them, even on failure */
	if (obj == NULL)
		return -1;
	rc = json_dumpf(obj, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(obj);
	if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		return -1;
	return 0;
}

int
bench_run(int argc, char **argv)
{
	static char name[] = "tmprov-bench";
	struct bench_opts o = {.duration_ms = -1,
			       .threads = -1,
			       .concurrency = 64,
			       .connections = 8,
			       .subjects = 5000,
			       .commands = 50000,
			       .workers = 1,
			       .partitions = 12,
			       .db_pool = 8};
	struct bench_result r = {0};
	const struct bench_scenario *sc;
	struct cfg *cfg = NULL;
	char err[1024];
	int rc;

	if (bench_wants_help(argc, argv)) {
		fputs(BENCH_USAGE, stdout);
		return BENCH_EXIT_OK;
	}
	log_init("tmprov-bench", LOG_WARN);
	cfg = bench_cfg();
	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", name);
		return BENCH_EXIT_FAIL;
	}
	argv[0] = name; /* configuration errors are reported under this name */
	argc = cfg_from_args(cfg, argc, argv);
	if (argc < 2 || (sc = bench_find(argv[1])) == NULL) {
		rc = argc < 2 ? bench_usage_error("which scenario?")
			      : bench_usage_error("unknown scenario %s", argv[1]);
		goto out;
	}
	rc = bench_parse_flags(argc, argv, &o);
	if (rc != BENCH_EXIT_OK)
		goto out;
	o.cfg = cfg;
	rc = bench_mode(sc, &o);
	if (rc != BENCH_EXIT_OK)
		goto out;
	o.cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o.cpus = o.cpus > 0 ? o.cpus : 1;
	o.threads = o.threads >= 0 ? o.threads : sc->threads;
	o.threads = o.threads > 0 ? o.threads : o.cpus;
	rc = BENCH_EXIT_FAIL;
	if (sc->run(&o, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s %s: %s\n", name, sc->name, err);
		goto out;
	}
	if (bench_print(sc, &r) != 0) {
		fprintf(stderr, "%s %s: cannot write the result\n", name, sc->name);
		goto out;
	}
	rc = BENCH_EXIT_OK;
out:
	json_decref(r.params);
	json_decref(r.figures);
	json_decref(r.counts);
	cfg_free(cfg);
	return rc;
}
