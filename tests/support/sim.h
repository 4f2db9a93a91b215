/* sim: a private tmsim for one test — started from $TMPROV_TEST_BIN on a free loopback port,
 * driven through its /_sim control API, stopped with SIGTERM and checked to exit 0. */
#ifndef TMPROV_TEST_SIM_H
#define TMPROV_TEST_SIM_H

#include <jansson.h>
#include <sys/types.h>

struct sim;

struct sim_opts {
	const char *faults;    /* --faults query, or NULL */
	const char *partner;   /* TMPROV_PARTNER_ID; NULL: from the environment or "partner-test" */
	const char *log_level; /* TMPROV_LOG_LEVEL; NULL: inherited, else "info" */
	const char *const *env; /* more "KEY=value" settings (NULL-terminated), or NULL */
	const char *listen;	/* HOST:PORT, e.g. a stopped tmsim's to bring TM back; NULL: a free
				 * loopback port */
};

/* Starts tmsim with faults (NULL or a /_sim/faults query). Returns 0, or -1 after printing
 * why on stderr (TMPROV_TEST_BIN unset, tmsim missing or exiting, no port within 10 s). */
int sim_start(struct sim **out, const char *faults);
int sim_start_opts(struct sim **out, const struct sim_opts *opts);
/* "http://127.0.0.1:PORT", the base URL a TM client is given. */
const char *sim_url(const struct sim *s);
/* The partner id tmsim expects as service_company_uid. */
const char *sim_partner(const struct sim *s);
int sim_port(const struct sim *s);
pid_t sim_pid(const struct sim *s);
/* File holding tmsim's stdout and stderr (its JSON log lines). */
const char *sim_log_path(const struct sim *s);

/* GET /_sim/faults?query; 0 when tmsim accepted it (200), else -1 (message on stderr). */
int sim_faults(struct sim *s, const char *query);
/* GET /_sim/mx?query, the fault matrix's own faults (tools/tmsim/mxfault.h); 0 or -1. */
int sim_mx(struct sim *s, const char *query);
/* Calls received for endpoint (NULL: all endpoints), from /_sim/stats; -1 on error. */
long sim_count(struct sim *s, const char *endpoint);
/* The parsed /_sim/calls document, {"calls":[{seq, at_ms, endpoint, params, fault, status,
 * reason}, ...]}; *out is a new reference. 0 or -1. */
int sim_calls(struct sim *s, json_t **out);
/* The parsed /_sim/accounts document, {"accounts":[...], "meeting_count":N}. 0 or -1. */
int sim_accounts(struct sim *s, json_t **out);
/* GET /_sim/reset: no accounts, no faults, an empty call log. 0 or -1. */
int sim_reset(struct sim *s);
/* {url}/as/wapi/service/{endpoint}?service_company_uid={partner}&k=v... from NULL-terminated
 * key, value pairs (values URL-encoded); malloc'd. */
char *sim_tm_url(const struct sim *s, const char *endpoint, ...) __attribute__((sentinel));

/* SIGTERM, waits (SIGKILL after 10 s), removes the temporary files; returns 0 if tmsim exited
 * with status 0, else -1 after printing the status and the end of its log. NULL: 0. */
int sim_stop_status(struct sim *s);
/* sim_stop_status, and a failing exit of the test program if tmsim did not exit 0. */
void sim_stop(struct sim *s);

#endif
