/* simconfig: tmsim's configuration table. */
#include "simconfig.h"

#include <stddef.h>

CFG_KEY(TMSIM_LISTEN, CFG_LISTEN, "127.0.0.1:8080", 0, 0, 0, NULL,
	"Address and port tmsim listens on (`--listen`); port 0 picks a free one.");
CFG_KEY(TMSIM_FAULTS, CFG_STRING, NULL, 0, 0, 0, NULL,
	"Faults at start (`--faults`), as a `/_sim/faults` query, e.g. "
	"`latency_ms=50&error_rate=0.1`.");
CFG_KEY(TMSIM_CALL_LOG_MAX, CFG_INT, "1000000", 0, 1, 100000000, NULL,
	"Calls kept in the call log; the oldest go first.");
CFG_KEY(TMSIM_MAX_CONNECTIONS, CFG_INT, "1000", 0, 1, 100000, NULL,
	"Concurrent connections (served by one polling thread per CPU, up to 8).");
CFG_KEY(TMSIM_IDLE_TIMEOUT, CFG_MS, "120s", 0, 1000, 3600000, NULL,
	"An idle connection is closed after this long.");

static const struct cfg_key *const tmsim_keys[] = {
    &KEY_TMSIM_LISTEN,		&KEY_TMSIM_FAULTS,	 &KEY_TMSIM_CALL_LOG_MAX,
    &KEY_TMSIM_MAX_CONNECTIONS, &KEY_TMSIM_IDLE_TIMEOUT, &KEY_TMPROV_PARTNER_ID,
    &KEY_TMPROV_LOG_LEVEL,
};

/* Like tmprov-callback, tmsim refuses calls without the partner id, so it must know it. */
static const struct cfg_override tmsim_overrides[] = {
    {&KEY_TMPROV_PARTNER_ID, NULL, CFG_REQUIRED},
};

struct cfg *
simconfig_new(void)
{
	const struct cfg_list list = {tmsim_keys, CFG_KEYS_LEN(tmsim_keys)};

	return cfg_compose(&list, 1, tmsim_overrides, CFG_KEYS_LEN(tmsim_overrides));
}
