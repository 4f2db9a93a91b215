/* bench: what the `tmprov-bench` scenarios share — their options, the result each round fills
 * in, and their entry points (one scenario per bench_*.c file). */
#ifndef TMPROV_BENCH_H
#define TMPROV_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "tm_client.h"

/* Exit status of tmprov-bench, as every tmprov program keeps it. */
enum { BENCH_EXIT_OK = 0, BENCH_EXIT_FAIL = 1, BENCH_EXIT_USAGE = 2 };

/* Runs one round of the scenario argv names (argv[0]: the program); returns the exit status. */
int bench_run(int argc, char **argv);

struct bench_opts {
	const struct cfg *cfg; /* TM client, password, database and migrations settings */
	long duration_ms;      /* measure this long (0: until calls) */
	long calls;	       /* or until this many calls or transactions (0: until duration) */
	long concurrency;      /* tmsim-capacity: transfers in flight; worker: its concurrency */
	long threads;	       /* tm-client, hash, callback (wrk): threads (0 turned into cpus) */
	long cpus;	       /* online CPUs */
	const char *mode;      /* the scenario's variant (checked by bench_run) */
	long connections;      /* pg-reference: pgbench clients; callback: wrk connections */
	long subjects;	       /* pg-reference, worker, callback: distinct subjects (users) */
	const char *pgbench;   /* pg-reference: the pgbench program's path */
	const char *wrk;       /* callback: the wrk program's path */
	long commands;	       /* worker: commands in the load; pg-reference: its mix's size */
	long workers;	       /* worker: processes in one group */
	long partitions;       /* worker: partitions of the commands topic */
	long tm_latency_ms;    /* worker: tmsim's added latency per call */
	long rate;	       /* worker: commands/s produced steadily (0: all pre-loaded) */
	long db_pool;	       /* worker: TMPROV_DB_POOL */
	long tm_rate;	       /* worker: TMPROV_TM_RATE (0: no limit) */
	bool prestart;	       /* worker: clock from all workers assigned, then the load */
};

/* One round's outcome. The scenario sets unit and creates the three objects (bench_run owns
 * and frees them): params say what ran, figures hold the numbers bench.sh aggregates over
 * rounds (every one > 0: always rate; p50_ms, p99_ms, max_ms where latencies mean something;
 * peak_rss_mib and the like), counts say what happened. */
struct bench_result {
	const char *unit; /* what rate counts, e.g. "calls/s" */
	json_t *params, *figures, *counts;
};

/* A scenario runs one round. Returns 0, or -1 with err set; a round in which any call failed is
 * a failure, since fast failures would inflate the figures. */
typedef int (*bench_fn)(const struct bench_opts *o, struct bench_result *r, char *err,
			size_t errlen);

int bench_tmsim_capacity(const struct bench_opts *o, struct bench_result *r, char *err,
			 size_t errlen);
int bench_tm_client(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen);
int bench_hash(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen);
int bench_pg_reference(const struct bench_opts *o, struct bench_result *r, char *err,
		       size_t errlen);
int bench_worker(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen);
int bench_callback(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen);

/* Creates n accounts in TM (create_account, one client) so that query_account has something to
 * find; uids gets their company_uids. Returns 0 or -1 with err set. */
int bench_tm_seed(const struct tm_client_opts *tmo, size_t n, char (*uids)[TM_COMPANY_UID_MAX + 1],
		  char *err, size_t errlen);

#endif
