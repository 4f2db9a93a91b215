/* tmprov-callback: answers TurboMeeting's user authentication and meeting-list calls (spec
 * Sections 6 and 11) and the partner's start and join addresses from the shared database. main
 * only reads the configuration, wires the modules, waits for a signal and shuts down. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cb.h"
#include "cbconfig.h"
#include "cbtls.h"
#include "config.h"
#include "crashlog.h"
#include "db.h"
#include "cbpool.h"
#include "hashgate.h"
#include "log.h"
#include "maint.h"
#include "metrics.h"
#include "netaddr.h"
#include "clock.h"
#include "password.h"
#include "reload.h"
#include "request.h"
#include "routes.h"
#include "sdnotify.h"
#include "server.h"
#include "telemetry.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "unknown"
#endif

/* The main loop's turn: it ticks the admin port's liveness this often between purges. */
#define RUN_TURN_MS 250

static volatile sig_atomic_t stop_requested;

static void
usage(void)
{
	fprintf(stderr, "usage: tmprov-callback [--listen HOST:PORT] [--port-file FILE] "
			"[--admin-port-file FILE] [--config FILE] [--print-config]\n");
	exit(2);
}

static void
config_error(const char *key, const char *msg)
{
	fprintf(stderr, "tmprov-callback: configuration error: %s: %s\n", key, msg);
	exit(2);
}

/* A copy of key's URL without trailing slashes, so that paths can be appended. */
static char *
url_base(const struct cfg *c, const struct cfg_key *key)
{
	const char *url = cfg_str(c, key);
	size_t n = strlen(url);
	char *out;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n > 2000)
		config_error(key->name, "longer than 2000 characters");
	if ((out = strndup(url, n)) == NULL)
		fatal("out of memory");
	return out;
}

/* Fills the handlers' context from the configuration (exits 2 on a bad value). */
static void
cb_from_cfg(struct cb *cb, const struct cfg *c)
{
	char err[256];
	long slots = cfg_int(c, &KEY_TMPROV_HASH_CONCURRENCY);

	cb->public_url = url_base(c, &KEY_TMPROV_PUBLIC_URL);
	cb->tm_url = url_base(c, &KEY_TMPROV_TM_URL);
	cb->partner_id = cfg_str(c, &KEY_TMPROV_PARTNER_ID);
	if (cb->partner_id == NULL || *cb->partner_id == '\0')
		config_error("TMPROV_PARTNER_ID", "must not be empty");
	cb->session_ttl_ms = cfg_int(c, &KEY_TMPROV_SESSION_TTL);
	cb->meeting_past_ms = cfg_int(c, &KEY_TMPROV_MEETING_LIST_PAST);
	cb->meeting_list_max = cfg_int(c, &KEY_TMPROV_MEETING_LIST_MAX);
	cb->timezone = cfg_str(c, &KEY_TMPROV_MEETING_TIMEZONE);
	cb->max_body = (size_t)cfg_int(c, &KEY_TMPROV_CALLBACK_MAX_BODY);
	cb->throttle.max_failures = cfg_int(c, &KEY_TMPROV_AUTH_MAX_FAILURES);
	cb->throttle.window_ms = cfg_int(c, &KEY_TMPROV_AUTH_FAILURE_WINDOW);
	if (netaddr_allow_parse(cfg_str(c, &KEY_TMPROV_CALLBACK_ALLOW), &cb->allow, err,
				sizeof(err)))
		config_error("TMPROV_CALLBACK_ALLOW", err);
	if (cfg_str(c, &KEY_TMPROV_CALLBACK_TRUSTED_PROXIES) != NULL &&
	    netaddr_allow_parse(cfg_str(c, &KEY_TMPROV_CALLBACK_TRUSTED_PROXIES), &cb->trusted, err,
				sizeof(err)))
		config_error("TMPROV_CALLBACK_TRUSTED_PROXIES", err);
	if (password_opts_from_cfg(&cb->password, c, err, sizeof(err)) != 0)
		config_error("TMPROV_PASSWORD_*", err);
	if ((cb->metrics = metrics_new()) == NULL ||
	    telemetry_declare(cb->metrics, routes_label, result_label) != 0 ||
	    metrics_build_info(cb->metrics, TMPROV_VERSION) != 0)
		fatal("metrics: cannot declare");
	if (slots == 0 && (slots = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		slots = 1;
	if ((cb->hashes = hashgate_new((unsigned)slots, cb->metrics)) == NULL)
		fatal("out of memory");
}

/* tls is filled from the PEM files and must outlive the server. */
static void
server_opts_from_cfg(struct server_opts *o, struct cbtls *tls, const struct cfg *c)
{
	const char *bad_key = NULL;
	char err[512];

	if (cbtls_load(tls, cfg_str(c, &KEY_TMPROV_CALLBACK_TLS_CERT),
		       cfg_str(c, &KEY_TMPROV_CALLBACK_TLS_KEY), &bad_key, err, sizeof(err)) != 0)
		config_error(bad_key, err);
	o->tls_cert = tls->cert;
	o->tls_key = tls->key;
	o->listen = cfg_str(c, &KEY_TMPROV_CALLBACK_LISTEN);
	o->threads = (unsigned)cfg_int(c, &KEY_TMPROV_CALLBACK_THREADS);
	o->max_connections = (unsigned)cfg_int(c, &KEY_TMPROV_CALLBACK_MAX_CONNECTIONS);
	o->max_per_ip = (unsigned)cfg_int(c, &KEY_TMPROV_CALLBACK_MAX_CONNECTIONS_PER_IP);
	o->max_outside = (unsigned)cfg_int(c, &KEY_TMPROV_CALLBACK_MAX_OUTSIDE_CONNECTIONS);
	o->timeout_s =
	    (unsigned)((cfg_int(c, &KEY_TMPROV_CALLBACK_CONNECTION_TIMEOUT) + 999) / 1000);
	o->memory_limit = (size_t)cfg_int(c, &KEY_TMPROV_CALLBACK_MAX_HEADER_BYTES);
}

/* Connects the start-up check: a database that never comes up, or an unknown time zone, ends
 * the program before it listens. */
static struct maint *
maint_from_cfg(const struct cfg *c, const struct db_options *dbo, const char *timezone)
{
	struct db_options o = *dbo;
	struct maint *m;
	char err[512];

	/* Its own name in pg_stat_activity, apart from the request threads' connections. */
	o.application_name = "tmprov-callback-maint";
	m = maint_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), &o);

	if (m == NULL)
		fatal("out of memory");
	switch (maint_start(m, timezone, err, sizeof(err))) {
	case MAINT_OK:
		return m;
	case MAINT_TIMEZONE:
		config_error("TMPROV_MEETING_TIMEZONE", err);
		break;
	default:
		fatal("database: %s", err);
	}
	return NULL;
}

/* Waits for SIGTERM/SIGINT (blocked in every thread), purging every interval meanwhile,
 * reloading on SIGHUP, and telling at every turn the admin port (/healthz) and the service
 * manager's watchdog that the loop is alive (a purge stuck on a lock is not). */
static void
run(const sigset_t *sigs, struct maint *m, const struct cb *cb, struct cfg *cfg,
    struct admin *admin, long interval_ms)
{
	long ping = sdnotify_watchdog_interval_ms(), next_purge = clock_now_ms() + interval_ms;
	long tick = ping > 0 && ping < RUN_TURN_MS ? ping : RUN_TURN_MS;
	struct timespec ts = {tick / 1000, (tick % 1000) * 1000000L};
	char err[256];

	while (!stop_requested) {
		int sig;

		admin_tick(admin);
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGHUP)
			reload_apply(cfg);
		else if (sig > 0)
			stop_requested = 1;
		if (ping > 0)
			sdnotify_watchdog();
		if (stop_requested || clock_now_ms() < next_purge)
			continue;
		if (maint_purge(m, cb->throttle.window_ms, err, sizeof(err)) < 0)
			log_warn("purge: %s", err);
		next_purge = clock_now_ms() + interval_ms;
	}
}

/* Stops accepting, lets requests in flight finish (up to timeout_ms), then stops. A second
 * signal meanwhile ends the program at once. */
static void
drain(const sigset_t *sigs, struct server *srv, long timeout_ms)
{
	struct timespec tick = {0, 20 * 1000000L};
	long waited = 0;

	server_quiesce(srv);
	log_info("stopping: no new connections, %u requests in flight", server_in_flight(srv));
	while (server_in_flight(srv) > 0 && waited < timeout_ms) {
		int sig = sigtimedwait(sigs, NULL, &tick);

		if (sig > 0 && sig != SIGHUP) {
			log_warn("second signal: exiting at once");
			_exit(1);
		}
		waited += 20;
	}
	if (server_in_flight(srv) > 0)
		log_warn("drain timeout: %u requests cut off", server_in_flight(srv));
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL, *admin_port_file = NULL;
	struct cfg *cfg = cbconfig_new();
	struct cb cb = {0};
	struct server_opts so;
	struct cbtls tls;
	struct db_options dbo;
	struct maint *maint;
	struct server *srv;
	struct admin *admin;
	enum log_level level = LOG_INFO;
	sigset_t sigs;
	char err[512];

	if (cfg == NULL)
		fatal("out of memory");
	crashlog_install("tmprov-callback");
	const struct cfg_flag flags[] = {{"--listen", &KEY_TMPROV_CALLBACK_LISTEN, NULL},
					 {"--port-file", NULL, &port_file},
					 {"--admin-port-file", NULL, &admin_port_file}};

	cfg_set_usage(cfg, "tmprov-callback [--listen HOST:PORT] [--port-file FILE] "
			   "[--admin-port-file FILE]\n"
			   "Answers TurboMeeting's login and meeting-list calls and the join and "
			   "start addresses.");
	argc = cfg_take_flags(argc, argv, flags, sizeof(flags) / sizeof(flags[0]));
	if (argc < 0)
		usage();
	if (cfg_from_args(cfg, argc, argv) != 1)
		usage();
	log_level_parse(cfg_str(cfg, &KEY_TMPROV_LOG_LEVEL), &level);
	log_init("tmprov-callback", level);
	cb_from_cfg(&cb, cfg);
	server_opts_from_cfg(&so, &tls, cfg);
	db_options_from_cfg(&dbo, cfg, "tmprov-callback");

	/* Blocked before any thread starts, so only sigtimedwait below ever takes them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	maint = maint_from_cfg(cfg, &dbo, cb.timezone);
	cb.dbpool = cbpool_new(cfg_str(cfg, &KEY_TMPROV_DATABASE_URL), &dbo,
			       cfg_int(cfg, &KEY_TMPROV_CALLBACK_DB_RETRY));
	if (cb.dbpool == NULL)
		fatal("out of memory");
	if ((srv = server_start(&cb, &so, err, sizeof(err))) == NULL)
		fatal("TMPROV_CALLBACK_LISTEN: %s", err);
	admin = admin_start(cfg_str(cfg, &KEY_TMPROV_ADMIN_LISTEN), cb.metrics, maint_ready, maint,
			    err, sizeof(err));
	if (admin == NULL)
		fatal("TMPROV_ADMIN_LISTEN: %s", err);
	admin_set_stall(admin, cfg_int(cfg, &KEY_TMPROV_HEALTH_STALL_TIMEOUT));
	if ((port_file != NULL &&
	     netaddr_port_file_write(port_file, server_port(srv), err, sizeof(err)) != 0) ||
	    (admin_port_file != NULL &&
	     netaddr_port_file_write(admin_port_file, admin_port(admin), err, sizeof(err)) != 0))
		fatal("%s", err);
	log_info("listening on %s (port %d, %s), admin port %d, %u threads", so.listen,
		 server_port(srv), so.tls_cert ? "HTTPS: TLS 1.2+" : "plain HTTP",
		 admin_port(admin), so.threads);
	sdnotify_ready("listening");

	run(&sigs, maint, &cb, cfg, admin, cfg_int(cfg, &KEY_TMPROV_CALLBACK_PURGE_INTERVAL));
	sdnotify_stopping("draining");
	drain(&sigs, srv, cfg_int(cfg, &KEY_TMPROV_CALLBACK_DRAIN_TIMEOUT));
	server_stop(srv);
	cbtls_free(&tls);
	admin_stop(admin);
	cbpool_free(cb.dbpool);
	maint_free(maint);
	hashgate_free(cb.hashes);
	metrics_free(cb.metrics);
	free((char *)cb.public_url);
	free((char *)cb.tm_url);
	cfg_free(cfg);
	log_info("stopped");
	return 0;
}
