/* clicfg: the shared start-up of the operator subcommands. */
#include "clicfg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "cli.h"
#include "clisql.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "tm_client.h"
#include "tmrate.h"

volatile sig_atomic_t clicfg_stop;

static const struct cfg_key *const cli_keys[] = {&KEY_TMPROV_LOG_LEVEL};

/* An operator reads the CLI's own messages; its JSON log lines (librdkafka's, mostly) are for
 * debugging, so only errors by default. */
static const struct cfg_override cli_overrides[] = {{&KEY_TMPROV_LOG_LEVEL, "error", 0}};

struct cfg *
clicfg_new(enum clicfg_table t)
{
	const struct cfg_list db = {DB_CONFIG_KEYS, DB_CONFIG_NKEYS};
	const struct cfg_list ops[] = {
	    db,
	    {KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS},
	    {cli_keys, CFG_KEYS_LEN(cli_keys)},
	    {MIGRATE_CONFIG_KEYS, t == CLICFG_ALL ? MIGRATE_CONFIG_NKEYS : 0},
	    /* reconcile calls TM itself (query_account). */
	    {TM_CONFIG_KEYS, t == CLICFG_ALL || t == CLICFG_RECONCILE ? TM_CONFIG_NKEYS : 0},
	    {TMRATE_CONFIG_KEYS,
	     t == CLICFG_ALL || t == CLICFG_RECONCILE ? TMRATE_CONFIG_NKEYS : 0},
	};
	const struct cfg_list migrate[] = {db, {MIGRATE_CONFIG_KEYS, MIGRATE_CONFIG_NKEYS}};

	if (t == CLICFG_MIGRATE)
		return cfg_compose(migrate, CFG_KEYS_LEN(migrate), NULL, 0);
	return cfg_compose(ops, CFG_KEYS_LEN(ops), cli_overrides, CFG_KEYS_LEN(cli_overrides));
}

int
clicfg_help_config(int argc, char **argv)
{
	struct cfg *c = clicfg_new(CLICFG_ALL);

	if (c == NULL) {
		fprintf(stderr, "tmprov: out of memory\n");
		return 1;
	}
	/* Prints the table and exits unless an argument is left over. */
	if (cfg_from_args(c, argc, argv) > 1)
		fprintf(stderr, "usage: tmprov --help-config[=mdoc]\n");
	cfg_free(c);
	return 2;
}

bool
clicfg_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

struct cfg *
clicfg_load(const char *name, int *argc, char **argv)
{
	return clicfg_load_table(name, CLICFG_OPERATOR, argc, argv);
}

struct cfg *
clicfg_load_table(const char *name, enum clicfg_table t, int *argc, char **argv)
{
	struct cfg *c = clicfg_new(t);
	enum log_level level = LOG_ERROR;

	if (c == NULL) {
		fprintf(stderr, "%s: out of memory\n", name);
		return NULL;
	}
	argv[0] = (char *)name; /* configuration errors are reported under this name */
	*argc = cfg_from_args(c, *argc, argv);
	log_level_parse(cfg_str(c, &KEY_TMPROV_LOG_LEVEL), &level);
	log_init("tmprov", level);
	return c;
}

int
clicfg_usage(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(%s --help describes the options)\n", name);
	return 2;
}

int
clicfg_timeout(const char *name, const char *arg, long *ms)
{
	if (cfg_parse_ms(arg, ms) != 0 || *ms <= 0)
		return clicfg_usage(name, "--timeout: %s is not a duration", arg);
	return 0;
}

static void
clicfg_on_signal(int sig)
{
	(void)sig;
	if (clicfg_stop)
		_exit(130);
	clicfg_stop = 1;
}

void
clicfg_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = clicfg_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Reads exactly n digits at *p. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/* RFC 3339 or a bare date; the calendar is checked by a round trip through timegm. */
static int
parse_rfc3339(const char *s, long long *ms)
{
	struct tm tm = {0}, back;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	long long frac_ms = 0;
	const char *p = s;
	time_t t;

	if (digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
	    digits(&p, 2, &d))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
		    digits(&p, 2, &sec))
			return -1;
		if (*p == '.') {
			long long scale = 100;

			for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac_ms += (*p - '0') * scale;
		}
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			sign = *p == '+' ? 1 : -1;
			p++;
			if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
				return -1;
		} else
			return -1;
	}
	if (*p != '\0')
		return -1;
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	back = tm;
	t = timegm(&tm);
	if (tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon || h > 23 || mi > 59 ||
	    sec > 59 || oh > 23 || om > 59)
		return -1;
	*ms = ((long long)t - (long long)sign * (oh * 3600 + om * 60)) * 1000 + frac_ms;
	return 0;
}

int
clicfg_parse_time(const char *s, long long *ms)
{
	struct timespec now;
	size_t n = strlen(s);
	long ago;

	if (parse_rfc3339(s, ms) == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (n > 1 && s[n - 1] == 'd') {
		char *end;
		long days = strtol(s, &end, 10);

		if (end != s + n - 1 || days < 0 || days > 36500)
			return -1;
		ago = days * 86400000L;
	} else if (n == 0 || s[n - 1] < 'a' || s[n - 1] > 'z' || cfg_parse_ms(s, &ago) != 0 ||
		   ago < 0) {
		return -1; /* a bare number would be ambiguous: a unit is required */
	}
	*ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ago;
	return 0;
}

struct db *
clicfg_db(const struct cfg *c, bool quick, char *err, size_t errlen)
{
	struct db_options o;
	struct db *db;

	db_options_from_cfg(&o, c, "tmprov-cli");
	if (quick) {
		o.connect_attempts = 1;
		o.connect_budget_ms = 0;
	}
	db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), CLISQL_STATEMENTS, CLISQL_COUNT);
	if (db == NULL || db_set_options(db, &o) != 0) {
		snprintf(err, errlen, "out of memory");
		db_free(db);
		return NULL;
	}
	/* Times print in UTC (clisql.c); a reconnect would fall back to the server's zone, still
	 * with its offset shown. */
	if (db_connect(db, err, errlen) != 0 ||
	    db_exec_simple(db, "SET TIME ZONE 'UTC'", err, errlen) != 0) {
		db_free(db);
		return NULL;
	}
	return db;
}

int
clicmd_main(const struct clicmd *c, void *opts, int argc, char **argv)
{
	struct db *db = NULL;
	struct cfg *cfg;
	char err[512];
	int rc;

	if (clicfg_wants_help(argc, argv)) {
		fputs(c->usage, stdout);
		return CLI_OK;
	}
	cfg = clicfg_load_table(c->name, c->table, &argc, argv);
	if (cfg == NULL)
		return CLI_FAIL;
	rc = c->flags(c->name, argc, argv, opts);
	if (rc != CLI_OK)
		goto out;
	if (c->catch_signals)
		clicfg_catch_signals();
	db = clicfg_db(cfg, true, err, sizeof(err));
	if (db == NULL) {
		fprintf(stderr, "%s: %s\n", c->name, err);
		rc = CLI_FAIL;
		goto out;
	}
	rc = c->run(c->name, cfg, db, opts);
out:
	db_free(db);
	cfg_free(cfg);
	return rc;
}
