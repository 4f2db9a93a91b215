/* tmprov-worker: consumes tm.commands, carries each command out against TurboMeeting and
 * PostgreSQL, publishes outcome events. This file only reads the configuration, wires the
 * modules, runs the consumer loop and shuts down in order (worker_shutdown: drain, publish,
 * close; DESIGN.md §3: SIGTERM drains in-flight work and exits 0 within a bounded time). */
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "consumer.h"
#include "dispatch.h"
#include "exec.h"
#include "crashlog.h"
#include "exitguard.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "password.h"
#include "pool.h"
#include "publisher.h"
#include "reload.h"
#include "sdnotify.h"
#include "tm_client.h"
#include "tmgate.h"
#include "tmprobe.h"
#include "tmstate.h"
#include "wconfig.h"
#include "wmetrics.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "unknown"
#endif

#define POLL_MS 100
/* A password hash's memory (TMPROV_ARGON2_MEMLIMIT) is kept for the next while hashes keep
 * coming, and unmapped after this long without one. */
#define HASH_MEMORY_IDLE_MS 10000
/* After the drain deadline, how long jobs told to stop may take to return. */
#define ABANDON_GRACE_MS 5000
/* The least time the outbox gets to empty at shutdown, even after a long drain. */
#define PUBLISH_MIN_MS 1000
/* A shutdown's steps end by fixed points after the drain deadline (worker_shutdown): jobs told to
 * stop, the outbox's last publish, the final commit and group leave, the flushes (the grace).
 * A TM call on the wire may add TMPROV_TM_TIMEOUT; past that and a second more, the exit guard
 * ends the process. */
#define STOPPED_BY_MS	  3000
#define PUBLISHED_BY_MS	  5000
#define LEFT_BY_MS	  7000
#define SHUTDOWN_GRACE_MS 8000

static const double tm_seconds_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					    0.5,   1,	 2.5,	5,    10,  30};

static const struct {
	const char *name, *type, *help;
} metric_defs[] = {
    {"tmprov_commands_total", "counter", "commands by type and outcome"},
    {"tmprov_tm_calls_total", "counter", "TM call attempts by endpoint and result"},
    {"tmprov_tm_call_duration_seconds", "histogram", "TM call duration by endpoint"},
    {"tmprov_tm_retries_total", "counter", "TM call retries by endpoint"},
    {"tmprov_inflight", "gauge", "commands in flight (queued and running)"},
    {"tmprov_outbox_backlog", "gauge", "outcome events not yet published"},
    {"tmprov_consumer_lag", "gauge", "tm.commands messages not yet committed, by partition"},
    {"tmprov_assigned_partitions", "gauge", "tm.commands partitions assigned to this worker"},
    {"tmprov_dlq_total", "counter", "messages copied to the DLQ by reason"},
    {"tmprov_commit_failures_total", "counter", "partitions whose offset commit failed"},
    {"tmprov_tm_available", "gauge", "1 while TM is considered up"},
    {"tmprov_fetch_paused", "gauge", "1 while fetching is paused, labelled with why"},
    {"tmprov_tm_probes_total", "counter", "probes of a TM counted down, by result"},
    {"tmprov_db_available", "gauge", "1 while PostgreSQL is reachable"},
    {"tmprov_rebalances_total", "counter",
     "tm.commands rebalance events: partitions assigned, revoked, or lost"},
    {"tmprov_tm_rate_waits_total", "counter",
     "TM calls that waited for a token of the group's rate"},
    {"tmprov_tm_rate_wait_seconds_total", "counter", "time TM calls waited for rate tokens"},
    {"tmprov_tm_rate_stale_total", "counter",
     "rate tokens given up because the call's intent took longer than 50 ms to commit"},
    {"tmprov_tm_concurrency_limit", "gauge", "TM calls in flight allowed now (adaptive)"},
    {"tmprov_tm_calls_in_flight", "gauge", "TM calls in flight"},
    {"tmprov_tm_breaker_state", "gauge", "1 for the TM circuit breaker's state"},
    {"tmprov_tm_breaker_next_probe_timestamp_seconds", "gauge",
     "when the open breaker probes TM next (Unix time; 0: closed)"},
};

struct worker {
	struct cfg *cfg;
	struct metrics *metrics;
	rd_kafka_t *producer;
	struct exec_ctx *exec;
	struct publisher *publisher;
	struct dispatch *dispatch;
	struct pool *pool;
	struct consumer *consumer;
	struct admin *admin;
	struct tmprobe *probe;
	struct tmstate *tmstate;
};

static volatile sig_atomic_t stop_signal, reload_signal;
/* When the first SIGTERM/SIGINT came (clock_now_ms(), 0 before): the shutdown's one drain budget
 * (TMPROV_DRAIN_TIMEOUT) counts from there, also while a revoke drain holds the loop. */
static atomic_long stop_at_ms;
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "stop_at_ms is stored by a signal handler");

/* SIGHUP (systemctl reload): the loop re-reads the configuration; never a stop. */
static void
on_hup(int sig)
{
	(void)sig;
	reload_signal = 1;
}

static void
on_signal(int sig)
{
	static const char msg[] = "tmprov-worker: second signal: exiting now\n";

	/* The loop does the orderly shutdown; an impatient second signal skips it. */
	if (stop_signal) {
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(1);
		_exit(1);
	}
	/* clock_gettime is async-signal-safe, and atomic_long lock-free (asserted below). */
	atomic_store(&stop_at_ms, clock_now_ms());
	stop_signal = sig;
}

static void
signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	crashlog_install("tmprov-worker");
}

/* Configuration: tables, environment/--config, the keys the worker cannot do without. */
static struct cfg *
config_load(int argc, char **argv)
{
	static const struct cfg_key *const required[] = {&KEY_TMPROV_TM_URL,
							 &KEY_TMPROV_PARTNER_ID};
	struct cfg *c = wconfig_new();
	enum log_level level;
	char err[512];

	if (c == NULL) {
		fprintf(stderr, "tmprov-worker: cannot build the configuration table\n");
		exit(2);
	}
	cfg_set_usage(c, "tmprov-worker [--config FILE] [--print-config] [--help-config]\n"
			 "Consumes tm.commands, calls TurboMeeting, publishes outcome events.");
	if (cfg_from_args(c, argc, argv) > 1) {
		fprintf(stderr, "usage: tmprov-worker [--config FILE] [--print-config] "
				"[--help-config]\n");
		exit(2);
	}
	for (size_t i = 0; i < CFG_KEYS_LEN(required); i++) {
		if (!cfg_str(c, required[i]) || !*cfg_str(c, required[i])) {
			fprintf(stderr, "tmprov-worker: %s: required\n", required[i]->name);
			exit(2);
		}
	}
	if (exec_cfg_check(c, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmprov-worker: configuration error: %s\n", err);
		exit(2);
	}
	/* The table only admits the four names. */
	log_level_parse(cfg_str(c, &KEY_TMPROV_LOG_LEVEL), &level);
	log_init("tmprov-worker", level);
	return c;
}

static struct metrics *
metrics_init(void)
{
	struct metrics *m = metrics_new();

	if (!m)
		fatal("out of memory");
	for (size_t i = 0; i < CFG_KEYS_LEN(metric_defs); i++) {
		bool hist = strcmp(metric_defs[i].type, "histogram") == 0;

		if (metrics_declare(m, metric_defs[i].name, metric_defs[i].type,
				    metric_defs[i].help, hist ? tm_seconds_buckets : NULL,
				    hist ? (int)CFG_KEYS_LEN(tm_seconds_buckets) : 0) != 0)
			fatal("metrics: cannot declare %s", metric_defs[i].name);
	}
	if (metrics_build_info(m, TMPROV_VERSION) != 0)
		fatal("metrics: cannot declare tmprov_build_info");
	wmetrics_zero(m);
	return m;
}

/* The consumer's gate: fetching waits while TM or PostgreSQL is down. */
static bool
deps_gate(void *arg, const char **why)
{
	static bool was_open = true; /* the consumer's thread is the only caller */
	struct worker *w = arg;
	bool tm = exec_tm_available(w->exec), db = exec_db_available(w->exec);

	/* exec keeps tmprov_tm_available and tmprov_db_available. */
	if (!db)
		*why = "PostgreSQL unavailable";
	else if (!tm)
		*why = "TM unavailable (probing it)";
	/* The service manager's STATUS= line follows the pauses (systemctl status). */
	if ((db && tm) != was_open) {
		was_open = db && tm;
		if (was_open)
			sdnotify_status("consuming");
		else
			sdnotify_status("paused: %s", *why);
	}
	return db && tm;
}

/* /readyz, from the admin thread. */
static int
ready(void *arg, char *why, size_t whylen)
{
	struct worker *w = arg;

	if (!exec_db_available(w->exec)) {
		snprintf(why, whylen, "PostgreSQL unavailable");
		return 0;
	}
	if (!w->consumer || !consumer_broker_up(w->consumer)) {
		snprintf(why, whylen, "Kafka broker unreachable");
		return 0;
	}
	return 1;
}

static void
on_commit(void *arg)
{
	publisher_kick(arg);
}

static void *
runner_new(void *arg, char *err, size_t errlen)
{
	return exec_thread_new(arg, err, errlen);
}

static void
runner_free(void *thread)
{
	exec_thread_free(thread);
}

static enum job_result
runner_run(void *thread, struct job *j)
{
	return exec_run(thread, j, &j->stop) == EXEC_DONE ? JOB_DONE : JOB_ABANDONED;
}

/* The pool's carrier threads (pool.h): enough for every database connection (the pool's, the
 * lookup and result groups' and the rate bucket's) and every hash to be busy at once with two
 * to spare for the jobs whose TM answers came; a job waiting for TM holds none. */
static int
worker_carriers(const struct cfg *c)
{
	return (int)(cfg_int(c, &KEY_TMPROV_DB_POOL) + 3 + exec_hash_concurrency(c) + 2);
}

static void
worker_start(struct worker *w)
{
	static const struct pool_ops ops = {runner_new, runner_free, runner_run};
	/* TM calls are limited to TMPROV_WORKER_CONCURRENCY (exec.c); with no more commands than
	 * that in flight, a call slot would sit idle while its command does its lookup and writes
	 * its result (a tenth of a 50 ms call, make bench). */
	long calls = cfg_int(w->cfg, &KEY_TMPROV_WORKER_CONCURRENCY), n = calls + (calls + 3) / 4;
	struct consumer_opts co = {
	    .max_inflight = (size_t)n,
	    /* Held messages are released without a fetch restart, so the next one is taken as
	     * soon as a slot frees: a lower mark leaves slots idle (a quarter below the limit
	     * cost an eighth of the throughput with TM at 50 ms, make bench). */
	    .resume_below = (size_t)n,
	    .drain_timeout_ms = cfg_int(w->cfg, &KEY_TMPROV_DRAIN_TIMEOUT),
	    .stop_at_ms = &stop_at_ms,
	    .gate = deps_gate,
	    .gate_arg = w,
	};
	struct tm_client_opts tm;
	char err[512];

	w->metrics = metrics_init();
	if (!(w->producer = kafka_producer_new(w->cfg, err, sizeof(err))))
		fatal("%s", err);
	if (!(w->exec = exec_new(w->cfg, w->metrics, err, sizeof(err))))
		fatal("%s", err);
	tm_client_opts_from_cfg(&tm, w->cfg);
	if (!(w->probe = tmprobe_start(&tm, exec_tm_health(w->exec), exec_db_pool(w->exec),
				       w->metrics, err, sizeof(err))))
		fatal("%s", err);
	if (!(w->tmstate =
		  tmstate_start(cfg_str(w->cfg, &KEY_TMPROV_KAFKA_GROUP), exec_tm_health(w->exec),
				exec_tm_gate(w->exec), exec_db_pool(w->exec), err, sizeof(err))))
		fatal("%s", err);
	if (!(w->publisher = publisher_start(w->cfg, w->metrics, w->producer, err, sizeof(err))))
		fatal("%s", err);
	exec_set_on_commit(w->exec, on_commit, w->publisher);
	if (!(w->dispatch = dispatch_new()))
		fatal("out of memory");
	if (!(w->pool = pool_start(w->dispatch, worker_carriers(w->cfg), &ops, w->exec, err,
				   sizeof(err))))
		fatal("%s", err);
	if (!(w->consumer = consumer_new(w->cfg, w->dispatch, w->metrics, &co, err, sizeof(err))))
		fatal("%s", err);
	exec_set_lease(w->exec, consumer_lease(w->consumer));
	w->admin = admin_start(cfg_str(w->cfg, &KEY_TMPROV_ADMIN_LISTEN), w->metrics, ready, w, err,
			       sizeof(err));
	if (!w->admin)
		fatal("%s", err);
	admin_set_stall(w->admin, cfg_int(w->cfg, &KEY_TMPROV_HEALTH_STALL_TIMEOUT));
	log_info("started: %ld in flight at most, admin on port %d, consuming %s", n,
		 admin_port(w->admin), cfg_str(w->cfg, &KEY_TMPROV_TOPIC_COMMANDS));
}

/* SIGHUP: the reloadable keys take their new values (cfg_reload logs what changed and what
 * needs a restart); a bad file keeps the running configuration. */
static void
worker_reload(struct worker *w)
{
	/* The group's TM rate (TMPROV_TM_RATE, CFG_RELOAD) takes effect at the next refill. */
	if (reload_apply(w->cfg) > 0)
		tmgate_set_rate(exec_tm_gate(w->exec),
				(double)cfg_int(w->cfg, &KEY_TMPROV_TM_RATE));
}

/* The service manager's side of the loop: READY=1 once the group has assigned partitions,
 * WATCHDOG=1 at half the watchdog interval, a reload on SIGHUP; and idle hash memory returned. */
static void
worker_supervise(struct worker *w, bool *ready, long every, long *next_ping)
{
	if (!*ready && consumer_assigned_once(w->consumer)) {
		*ready = true;
		sdnotify_ready("consuming");
	}
	if (every > 0 && clock_now_ms() >= *next_ping) {
		sdnotify_watchdog();
		*next_ping = clock_now_ms() + every;
	}
	if (reload_signal) {
		reload_signal = 0;
		worker_reload(w);
	}
	password_arenas_trim(HASH_MEMORY_IDLE_MS);
}

/* Until a signal or a fatal Kafka error. Returns the exit status to use. */
static int
worker_run(struct worker *w)
{
	bool ready = false;
	long every = sdnotify_watchdog_interval_ms(), next_ping = 0;

	while (!stop_signal) {
		admin_tick(w->admin);
		worker_supervise(w, &ready, every, &next_ping);
		if (consumer_poll(w->consumer, POLL_MS) < 0) {
			log_error("consumer failed: shutting down");
			return 1;
		}
		consumer_maintain(w->consumer);
		/* The producer's delivery reports are served by the publisher, its only user. */
		if (kafka_fatal(w->producer)) {
			log_error("event producer failed: shutting down");
			return 1;
		}
		/* Commands that need a DLQ copy would wait for ever: restart with a new one. */
		if (exec_dlq_failed(w->exec)) {
			log_error("DLQ producer failed: shutting down");
			return 1;
		}
	}
	log_info("signal %d: stopping", (int)stop_signal);
	return 0;
}

/* Stop fetching and let in-flight jobs finish until the deadline; then stop the rest, which
 * have until stopped_by to return. */
static void
drain_jobs(struct worker *w, long deadline, long stopped_by)
{
	size_t stopped, cancelled;

	consumer_stop_fetching(w->consumer);
	while (dispatch_inflight(w->dispatch) && clock_now_ms() < deadline) {
		admin_tick(w->admin);
		dispatch_wait_idle(w->dispatch, clock_ms_until(deadline, 0, POLL_MS));
		/* Serves the group session and callbacks; no message is taken any more. */
		consumer_poll(w->consumer, 0);
		consumer_maintain(w->consumer);
	}
	if (!dispatch_inflight(w->dispatch))
		return;
	cancelled = dispatch_cancel(w->dispatch, NULL, NULL);
	stopped = dispatch_stop(w->dispatch, NULL, NULL);
	log_warn("drain timeout: %zu queued command(s) left for redelivery, %zu running stopped",
		 cancelled, stopped);
	dispatch_wait_idle(w->dispatch, clock_ms_until(stopped_by, 0, ABANDON_GRACE_MS));
}

/* Drain, publish, leave the group, free, with the exit status given: each step by a fixed point
 * after the drain deadline D (TMPROV_DRAIN_TIMEOUT from the signal): jobs told to stop by
 * D + 3 s, the outbox's last publish by D + 5 s, the final commit and group leave by D + 7 s,
 * the flushes by D + 8 s; a TM call on the wire may add TMPROV_TM_TIMEOUT, and a step that
 * never returns meets the exit guard (DESIGN.md §3: whatever state the shutdown found). */
static void
worker_shutdown(struct worker *w, int status)
{
	long since = atomic_load(&stop_at_ms); /* 0: a fatal error, no signal */
	long d = (since ? since : clock_now_ms()) + cfg_int(w->cfg, &KEY_TMPROV_DRAIN_TIMEOUT);
	long end = d + SHUTDOWN_GRACE_MS;
	struct exitguard *guard =
	    exitguard_arm(end + cfg_int(w->cfg, &KEY_TMPROV_TM_TIMEOUT) + 1000, status, NULL);
	char err[256];

	/* A probe on the wire ends within TMPROV_TM_TIMEOUT, while the drain goes on. */
	tmprobe_request_stop(w->probe);
	drain_jobs(w, d, d + STOPPED_BY_MS);
	exitguard_step(guard, "the command threads' stop");
	pool_stop(w->pool);
	consumer_maintain(w->consumer);
	exitguard_step(guard, "the outbox's last publish");
	if (publisher_drain(w->publisher,
			    clock_ms_until(d + PUBLISHED_BY_MS, PUBLISH_MIN_MS, INT_MAX)))
		log_warn("outbox not fully published: the next publisher sends the rest");
	publisher_stop(w->publisher);
	/* /readyz reads the consumer and exec: the admin port goes first. */
	admin_stop(w->admin);
	exitguard_step(guard, "the consumer's group leave");
	consumer_close(w->consumer, d + LEFT_BY_MS);
	tmprobe_free(w->probe);
	tmstate_free(w->tmstate);
	exitguard_step(guard, "the DLQ producer's flush");
	/* Undelivered, a DLQ copy or an event is sent again: its offset or outbox row waits. */
	exec_free_within(w->exec, clock_ms_until(end, 0, SHUTDOWN_GRACE_MS));
	exitguard_step(guard, "the event producer's flush");
	/* Its delivery reports reach no one now (the publisher stopped): not worth a long wait. */
	if (kafka_flush(w->producer, clock_ms_until(end, 0, PUBLISH_MIN_MS), err, sizeof(err)))
		log_warn("%s", err);
	rd_kafka_destroy(w->producer);
	exitguard_disarm(guard);
	dispatch_free(w->dispatch);
	metrics_free(w->metrics);
	cfg_free(w->cfg);
}

/* glibc gives a process's threads up to 8 malloc arenas per CPU. A worker's threads mostly wait
 * (a command each, on TM) and no more run at once than there are CPUs: one arena per CPU spares
 * the memory the others would keep (peak RSS at TM 50 ms, make bench on 2 CPUs: c256 58.4-58.9
 * -> 53.1-53.3 MiB, c1024 148 -> 139-140 MiB). An operator's arena_max (GLIBC_TUNABLES, or
 * MALLOC_ARENA_MAX) wins. */
static void
malloc_arenas(void)
{
	const char *tunables = getenv("GLIBC_TUNABLES");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if ((tunables != NULL && strstr(tunables, "arena_max") != NULL) ||
	    getenv("MALLOC_ARENA_MAX") != NULL || cpus < 1)
		return;
	if (mallopt(M_ARENA_MAX, cpus > INT_MAX ? INT_MAX : (int)cpus) != 1)
		log_debug("mallopt(M_ARENA_MAX) refused: the allocator keeps its arenas");
}

int
main(int argc, char **argv)
{
	struct worker w = {0};
	int status;

	malloc_arenas();
	w.cfg = config_load(argc, argv);
	signals_init();
	worker_start(&w);
	status = worker_run(&w);
	sdnotify_stopping("draining");
	worker_shutdown(&w, status);
	log_info("stopped");
	return status;
}
