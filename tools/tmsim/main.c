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
#include "simconfig.h"
#include "simserver.h"
#include "state.h"

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
	struct cfg *cfg = simconfig_new();
	struct sim_state *st;
	struct simserver *srv;
	enum log_level level = LOG_INFO;
	char err[256];
	int fd, port;

	if (cfg == NULL)
		fatal("out of memory");
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		usage(0);
	const struct cfg_flag flags[] = {{"--listen", &KEY_TMSIM_LISTEN, NULL},
					 {"--faults", &KEY_TMSIM_FAULTS, NULL},
					 {"--port-file", NULL, &port_file}};

	argc = cfg_take_flags(argc, argv, flags, sizeof(flags) / sizeof(flags[0]));
	if (argc < 0)
		usage(2);
	if (cfg_from_args(cfg, argc, argv) != 1)
		usage(2);
	log_level_parse(cfg_str(cfg, &KEY_TMPROV_LOG_LEVEL), &level);
	log_init("tmsim", level);

	st = state_new(cfg_str(cfg, &KEY_TMPROV_PARTNER_ID),
		       (size_t)cfg_int(cfg, &KEY_TMSIM_CALL_LOG_MAX));
	if (st == NULL)
		fatal("out of memory");
	faults_at_start(st, cfg_str(cfg, &KEY_TMSIM_FAULTS));

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);

	fd = simserver_listen(cfg_str(cfg, &KEY_TMSIM_LISTEN), &port, err, sizeof(err));
	if (fd < 0)
		fatal("%s", err);
	srv = simserver_start(st, fd, connection_limit(cfg_int(cfg, &KEY_TMSIM_MAX_CONNECTIONS)),
			      (unsigned)(cfg_int(cfg, &KEY_TMSIM_IDLE_TIMEOUT) / 1000), err,
			      sizeof(err));
	if (srv == NULL)
		fatal("%s", err);
	if (port_file != NULL && netaddr_port_file_write(port_file, port, err, sizeof(err)) != 0)
		fatal("%s", err);
	log_info("listening on %s, port %d", cfg_str(cfg, &KEY_TMSIM_LISTEN), port);

	wait_for_signal(&old);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("stopping");
	simserver_stop(srv);
	state_free(st);
	cfg_free(cfg);
	log_info("stopped");
	return 0;
}
