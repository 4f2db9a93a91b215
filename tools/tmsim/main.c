/* tmsim: a RHUB TurboMeeting wapi simulator with fault injection and a call log, for tests and
 * the demo. main only reads the configuration, starts the server, waits for a signal and stops. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "netaddr.h"
#include "query.h"
#include "simserver.h"
#include "state.h"

static const struct cfg_key tmsim_keys[] = {
    {"TMSIM_LISTEN", CFG_LISTEN, "127.0.0.1:8080", 0, 0, 0, NULL,
     "Address and port tmsim listens on (`--listen`); port 0 picks a free one."},
    {"TMSIM_FAULTS", CFG_STRING, NULL, 0, 0, 0, NULL,
     "Faults at start (`--faults`), as a `/_sim/faults` query, e.g. "
     "`latency_ms=50&error_rate=0.1`."},
    {"TMSIM_CALL_LOG_MAX", CFG_INT, "1000000", 0, 1, 100000000, NULL,
     "Calls kept in the call log; the oldest go first."},
    {"TMSIM_MAX_CONNECTIONS", CFG_INT, "1000", 0, 1, 100000, NULL,
     "Concurrent connections (served by one polling thread per CPU, up to 8)."},
    {"TMSIM_IDLE_TIMEOUT", CFG_MS, "120s", 0, 1000, 3600000, NULL,
     "An idle connection is closed after this long."},
    {"TMPROV_PARTNER_ID", CFG_STRING, NULL, CFG_REQUIRED | CFG_SECRET, 0, 0, NULL,
     "The partner id (service_company_uid) every call must carry."},
    {"TMPROV_LOG_LEVEL", CFG_ENUM, "info", 0, 0, 0, "debug|info|warn|error",
     "Log level; debug logs one line per TM call."},
};

static volatile sig_atomic_t stop_requested;

/* The first signal asks for a clean stop; a second one, during shutdown, ends at once. */
static void
on_signal(int sig)
{
	(void)sig;
	if (stop_requested)
		_exit(1);
	stop_requested = 1;
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: tmsim [--listen HOST:PORT] [--port-file FILE] [--faults QUERY] "
		"[--config FILE] [--print-config] [--help-config]\n"
		"A TurboMeeting wapi simulator with fault injection; see the README.\n");
	exit(status);
}

/* Every connection needs a descriptor: raise the soft limit, and keep the connection limit
 * under it. */
static unsigned
connection_limit(long wanted)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return (unsigned)wanted;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)wanted + 64 > rl.rlim_cur)
		wanted = rl.rlim_cur > 128 ? (long)rl.rlim_cur - 64 : 64;
	return (unsigned)wanted;
}

static void
faults_at_start(struct sim_state *st, const char *text)
{
	struct query q;
	char err[256];

	if (text == NULL || *text == '\0')
		return;
	if (query_parse(&q, text, err, sizeof(err)) != 0 ||
	    faults_apply(st->faults, &q, err, sizeof(err)) != 0) {
		fprintf(stderr, "tmsim: configuration error: TMSIM_FAULTS: %s\n", err);
		exit(2);
	}
	query_free(&q);
}

/* Blocks until SIGTERM or SIGINT. The signals are blocked everywhere but here, so libmicrohttpd's
 * threads never take them and sigsuspend sees each one. */
static void
wait_for_signal(const sigset_t *waiting)
{
	while (!stop_requested)
		sigsuspend(waiting);
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block, old;
	struct cfg *cfg = cfg_new();
	struct sim_state *st;
	struct simserver *srv;
	enum log_level level = LOG_INFO;
	char err[256];
	int fd, port;

	if (cfg == NULL || cfg_add_keys(cfg, tmsim_keys, CFG_KEYS_LEN(tmsim_keys)) != 0)
		fatal("out of memory");
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		usage(0);
	const struct cfg_flag flags[] = {{"--listen", "TMSIM_LISTEN", NULL},
					 {"--faults", "TMSIM_FAULTS", NULL},
					 {"--port-file", NULL, &port_file}};

	argc = cfg_take_flags(argc, argv, flags, sizeof(flags) / sizeof(flags[0]));
	if (argc < 0)
		usage(2);
	if (cfg_from_args(cfg, argc, argv) != 1)
		usage(2);
	log_level_parse(cfg_str(cfg, "TMPROV_LOG_LEVEL"), &level);
	log_init("tmsim", level);

	st = state_new(cfg_str(cfg, "TMPROV_PARTNER_ID"),
		       (size_t)cfg_int(cfg, "TMSIM_CALL_LOG_MAX"));
	if (st == NULL)
		fatal("out of memory");
	faults_at_start(st, cfg_str(cfg, "TMSIM_FAULTS"));

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);

	fd = simserver_listen(cfg_str(cfg, "TMSIM_LISTEN"), &port, err, sizeof(err));
	if (fd < 0)
		fatal("%s", err);
	srv = simserver_start(st, fd, connection_limit(cfg_int(cfg, "TMSIM_MAX_CONNECTIONS")),
			      (unsigned)(cfg_int(cfg, "TMSIM_IDLE_TIMEOUT") / 1000), err,
			      sizeof(err));
	if (srv == NULL)
		fatal("%s", err);
	if (port_file != NULL && netaddr_port_file_write(port_file, port, err, sizeof(err)) != 0)
		fatal("%s", err);
	log_info("listening on %s, port %d", cfg_str(cfg, "TMSIM_LISTEN"), port);

	wait_for_signal(&old);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("stopping");
	simserver_stop(srv);
	state_free(st);
	cfg_free(cfg);
	log_info("stopped");
	return 0;
}
