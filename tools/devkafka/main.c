/* tmprov-devkafka: a Kafka-protocol broker for development and tests (librdkafka's in-memory
 * mock cluster). Parses flags, starts the cluster, announces its address, waits for a signal. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "control.h"
#include "crashlog.h"
#include "dkconfig.h"
#include "log.h"

#define MAX_TOPICS 64

/* Command-line flags; they override the environment. */
struct flags {
	const char *partitions, *brokers, *bootstrap_file, *control;
	const char *topics[MAX_TOPICS];
	size_t ntopics;
	int print_config;
};

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: tmprov-devkafka [--partitions N] [--brokers N] [--topic NAME]...\n"
		"                       [--bootstrap-file FILE] [--control SOCKET]\n"
		"                       [--config FILE] [--print-config]\n"
		"A Kafka-protocol broker in memory (librdkafka's mock cluster) on free loopback\n"
		"ports. Creates each --topic (default: TMPROV_TOPIC_COMMANDS, _EVENTS, _DLQ) with\n"
		"N partitions, prints the bootstrap address on stdout, writes it to FILE when\n"
		"given, and runs until SIGTERM or SIGINT.\n"
		"--control: a Unix socket taking one fault command per connection (librdkafka's\n"
		"mock fault API), answered \"ok\" or \"error: ...\":\n"
		"  errors APIKEY ERR...            next requests of APIKEY fail with ERR in turn\n"
		"  broker-errors ID APIKEY ERR[:RTT_MS]...   the same on broker ID, delayed\n"
		"  clear APIKEY | broker-down ID | broker-up ID | rtt ID MS\n"
		"  (APIKEY: Produce, Fetch, Metadata, OffsetCommit, ... or a number; ERR: a name\n"
		"  such as NOT_LEADER_FOR_PARTITION or REQUEST_TIMED_OUT, or a number)\n"
		"Consumer groups: the mock completes a rebalance that is not the group's first\n"
		"only after the members' session.timeout.ms less 1 s, so give clients\n"
		"TMPROV_KAFKA_PROPS=session.timeout.ms=6000,heartbeat.interval.ms=1000.\n");
}

/* Matches "--name VALUE" or "--name=VALUE"; advances *i past what it used. */
static int
flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*out = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "tmprov-devkafka: %s needs a value\n", name);
		exit(2);
	}
	*out = argv[++*i];
	return 1;
}

/* Takes our flags out of argv, leaving what config handles (--config, --help-config). */
static int
flags_parse(int argc, char **argv, struct flags *f)
{
	int left = 1;
	const char *topic;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(argv[i], "--print-config") == 0) {
			f->print_config = 1;
		} else if (flag_value(argc, argv, &i, "--partitions", &f->partitions) ||
			   flag_value(argc, argv, &i, "--brokers", &f->brokers) ||
			   flag_value(argc, argv, &i, "--bootstrap-file", &f->bootstrap_file) ||
			   flag_value(argc, argv, &i, "--control", &f->control)) {
			continue;
		} else if (flag_value(argc, argv, &i, "--topic", &topic)) {
			if (f->ntopics == MAX_TOPICS || !*topic) {
				fprintf(stderr, "tmprov-devkafka: at most %d non-empty --topic\n",
					MAX_TOPICS);
				exit(2);
			}
			f->topics[f->ntopics++] = topic;
		} else {
			argv[left++] = argv[i];
		}
	}
	argv[left] = NULL;
	return left;
}

static void
config_set(struct cfg *c, const struct cfg_key *key, const char *value)
{
	char err[256];

	if (value && cfg_set(c, key, value, err, sizeof(err))) {
		fprintf(stderr, "tmprov-devkafka: %s\n", err);
		exit(2);
	}
}

static struct cfg *
config_load(int argc, char **argv, struct flags *f)
{
	struct cfg *c = dkconfig_new();

	if (c == NULL)
		fatal("cannot build the configuration table");
	argc = flags_parse(argc, argv, f);
	if (cfg_from_args(c, argc, argv) > 1) {
		usage(stderr);
		exit(2);
	}
	config_set(c, &KEY_TMPROV_DEVKAFKA_PARTITIONS, f->partitions);
	config_set(c, &KEY_TMPROV_DEVKAFKA_BROKERS, f->brokers);
	config_set(c, &KEY_TMPROV_DEVKAFKA_BOOTSTRAP_FILE, f->bootstrap_file);
	config_set(c, &KEY_TMPROV_DEVKAFKA_CONTROL, f->control);
	if (f->ntopics == 0) {
		f->topics[f->ntopics++] = cfg_str(c, &KEY_TMPROV_TOPIC_COMMANDS);
		f->topics[f->ntopics++] = cfg_str(c, &KEY_TMPROV_TOPIC_EVENTS);
		f->topics[f->ntopics++] = cfg_str(c, &KEY_TMPROV_TOPIC_DLQ);
	}
	return c;
}

static void
print_config(const struct cfg *c, const struct flags *f)
{
	cfg_print(c, stdout);
	printf("# topics created:");
	for (size_t i = 0; i < f->ntopics; i++)
		printf(" %s", f->topics[i]);
	printf("\n");
}

/* Blocks SIGINT and SIGTERM (the cluster's threads inherit the mask, so only the main thread
 * takes them) and installs the flag-setting handler; *old receives the previous mask. */
static void
signals_setup(sigset_t *old)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, old);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(old, SIGINT);
	sigdelset(old, SIGTERM);
}

/* Until a signal: serves the control socket (lfd, -1: none). ppoll unblocks the signals only
 * while waiting, so none is lost between the check of the flag and the wait. */
static void
serve(int lfd, struct cluster *cl, const sigset_t *waitmask)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	while (!stop_requested) {
		int n = ppoll(&p, lfd >= 0 ? 1 : 0, NULL, waitmask);

		if (n < 0 && errno != EINTR)
			fatal("ppoll: %s", strerror(errno));
		if (n > 0 && (p.revents & POLLIN))
			control_serve(lfd, cluster_mock(cl));
	}
}

int
main(int argc, char **argv)
{
	struct flags f = {0};
	struct cluster *cl;
	enum log_level level = LOG_INFO;
	const char *file, *control;
	sigset_t waitmask;
	int lfd = -1;
	struct cfg *c;
	char err[512];

	log_init("tmprov-devkafka", LOG_INFO);
	c = config_load(argc, argv, &f);
	if (f.print_config) {
		print_config(c, &f);
		cfg_free(c);
		return 0;
	}
	log_level_parse(cfg_str(c, &KEY_TMPROV_LOG_LEVEL), &level);
	log_init("tmprov-devkafka", level);
	signals_setup(&waitmask);
	crashlog_install("tmprov-devkafka");

	cl = cluster_new((int)cfg_int(c, &KEY_TMPROV_DEVKAFKA_BROKERS),
			 (int)cfg_int(c, &KEY_TMPROV_DEVKAFKA_PARTITIONS), f.topics, f.ntopics,
			 level == LOG_DEBUG, err, sizeof(err));
	if (!cl)
		fatal("%s", err);
	/* Listening before the bootstrap file appears: a test that has read it can send faults. */
	control = cfg_str(c, &KEY_TMPROV_DEVKAFKA_CONTROL);
	if (control && (lfd = control_listen(control, err, sizeof(err))) < 0) {
		cluster_free(cl);
		fatal("%s", err);
	}
	printf("%s\n", cluster_bootstraps(cl));
	fflush(stdout);
	file = cfg_str(c, &KEY_TMPROV_DEVKAFKA_BOOTSTRAP_FILE);
	if (file && cluster_write_file(file, cluster_bootstraps(cl), err, sizeof(err))) {
		cluster_free(cl);
		fatal("%s", err);
	}
	log_info("ready: bootstrap %s, %zu topic(s), %ld partition(s) each", cluster_bootstraps(cl),
		 f.ntopics, cfg_int(c, &KEY_TMPROV_DEVKAFKA_PARTITIONS));

	serve(lfd, cl, &waitmask);

	log_info("stopping");
	if (lfd >= 0) {
		close(lfd);
		unlink(control);
	}
	cluster_free(cl);
	cfg_free(c);
	return 0;
}
