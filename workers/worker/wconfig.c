/* wconfig: the worker's configuration table: its own keys (alphabetical) and the shared ones it
 * reads, with the worker's admin port. */
#include "wconfig.h"

#include <stddef.h>

#include "db.h"
#include "kafka.h"
#include "password.h"
#include "tm_client.h"
#include "tmrate.h"

CFG_KEY(TMPROV_DB_POOL, CFG_INT, "8", 0, 1, 256, NULL,
	"PostgreSQL connections shared by the commands (none is held during a TM call); "
	"the batched lookups and the group commit of results use one more each");
CFG_KEY(TMPROV_DELETE_GUARD, CFG_INT, "20", 0, 0, 1000000, NULL,
	"account deletions all workers on the database may make together within "
	"TMPROV_DELETE_GUARD_WINDOW; "
	"every further account.delete is held (command.held) until `tmprov approve` or `tmprov "
	"reject`, and later commands of its subject wait behind it; 0: the guard is off");
CFG_KEY(TMPROV_DELETE_GUARD_WINDOW, CFG_MS, "10m", 0, 1000, 604800000, NULL,
	"the sliding window in which TMPROV_DELETE_GUARD deletions are counted");
CFG_KEY(TMPROV_DRAIN_TIMEOUT, CFG_MS, "30s", 0, 0, 3600000, NULL,
	"on SIGTERM or a revoke, how long in-flight commands may take to finish");
CFG_KEY(TMPROV_JOIN_URL_TEMPLATE, CFG_STRING, "{PUBLIC_URL}/join/{meeting_id}", 0, 0, 0, NULL,
	"join URL handed out in meeting.scheduled; {PUBLIC_URL} and {meeting_id} are substituted");
CFG_KEY(TMPROV_RETRY_BASE, CFG_MS, "200ms", 0, 1, 600000, NULL,
	"first TM retry delay ceiling; doubles per attempt (full jitter)");
CFG_KEY(TMPROV_RETRY_BUDGET, CFG_INT, "8", 0, 1, 1000, NULL,
	"TM attempts per command, counted while TM is up; then command.failed (retryable) and a "
	"DLQ copy");
CFG_KEY(TMPROV_RETRY_CAP, CFG_MS, "30s", 0, 1, 3600000, NULL, "longest TM retry delay");
CFG_KEY(TMPROV_TM_PAUSE_AFTER, CFG_INT, "5", 0, 1, 100000, NULL,
	"TM failures in a row that look like an outage (no connection, no answer, an HTTP error "
	"without a TM answer), from several accounts or all refused connections, after which TM "
	"counts as down: consumption pauses and TM is probed until it answers");
CFG_KEY(TMPROV_UNKNOWN_CREATE, CFG_ENUM, "park", 0, 0, 0, "park|retry",
	"create_account whose outcome is unknown: park (command.failed outcome_unknown, DLQ copy) "
	"or retry (may leave an orphan TM account)");
CFG_KEY(TMPROV_UNKNOWN_SCHEDULE, CFG_ENUM, "retry", 0, 0, 0, "retry|park",
	"remote_schedule whose outcome is unknown: retry (meeting marked possible_duplicate) or "
	"park");
CFG_KEY(TMPROV_WORKER_CONCURRENCY, CFG_INT, "64", 0, 1, 4096, NULL,
	"TM calls in flight at most; a quarter more commands are in flight (queued and running, "
	"a fiber each), so that their database work overlaps the calls");

static const struct cfg_key *const worker_keys[] = {
    &KEY_TMPROV_ADMIN_LISTEN, &KEY_TMPROV_DRAIN_TIMEOUT,      &KEY_TMPROV_HEALTH_STALL_TIMEOUT,
    &KEY_TMPROV_LOG_LEVEL,    &KEY_TMPROV_WORKER_CONCURRENCY,
};

/* What exec reads beside the groups of common/. */
static const struct cfg_key *const worker_exec_keys[] = {
    &KEY_TMPROV_DB_POOL,	  &KEY_TMPROV_DELETE_GUARD,	 &KEY_TMPROV_DELETE_GUARD_WINDOW,
    &KEY_TMPROV_HASH_CONCURRENCY, &KEY_TMPROV_JOIN_URL_TEMPLATE, &KEY_TMPROV_PUBLIC_URL,
    &KEY_TMPROV_RETRY_BASE,	  &KEY_TMPROV_RETRY_BUDGET,	 &KEY_TMPROV_RETRY_CAP,
    &KEY_TMPROV_TM_PAUSE_AFTER,	  &KEY_TMPROV_UNKNOWN_CREATE,	 &KEY_TMPROV_UNKNOWN_SCHEDULE,
};

/* TMPROV_TM_URL and TMPROV_PARTNER_ID are not CFG_REQUIRED here: main checks them, refusing an
 * empty value too. */
static const struct cfg_override worker_overrides[] = {
    {&KEY_TMPROV_ADMIN_LISTEN, "127.0.0.1:9464", 0},
};

struct cfg *
wconfig_new(void)
{
	const struct cfg_list lists[] = {
	    {worker_keys, CFG_KEYS_LEN(worker_keys)},
	    {DB_CONFIG_KEYS, DB_CONFIG_NKEYS},
	    {KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS},
	    {TM_CONFIG_KEYS, TM_CONFIG_NKEYS},
	    {PASSWORD_CONFIG_KEYS, PASSWORD_CONFIG_NKEYS},
	    {worker_exec_keys, CFG_KEYS_LEN(worker_exec_keys)},
	    {TMRATE_CONFIG_KEYS, TMRATE_CONFIG_NKEYS},
	};

	return cfg_compose(lists, CFG_KEYS_LEN(lists), worker_overrides,
			   CFG_KEYS_LEN(worker_overrides));
}
