/* wconfig: the worker's configuration table: its own keys and the shared ones (cfgkeys.h, the
 * groups of db, kafka, tm_client and password) that it and its modules read. */
#ifndef TMPROV_WORKER_WCONFIG_H
#define TMPROV_WORKER_WCONFIG_H

#include "cfgkeys.h"
#include "config.h"

extern const struct cfg_key KEY_TMPROV_DB_POOL;
extern const struct cfg_key KEY_TMPROV_DELETE_GUARD;
extern const struct cfg_key KEY_TMPROV_DELETE_GUARD_WINDOW;
extern const struct cfg_key KEY_TMPROV_DRAIN_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_JOIN_URL_TEMPLATE;
extern const struct cfg_key KEY_TMPROV_RETRY_BASE;
extern const struct cfg_key KEY_TMPROV_RETRY_BUDGET;
extern const struct cfg_key KEY_TMPROV_RETRY_CAP;
extern const struct cfg_key KEY_TMPROV_TM_PAUSE_AFTER;
extern const struct cfg_key KEY_TMPROV_UNKNOWN_CREATE;
extern const struct cfg_key KEY_TMPROV_UNKNOWN_SCHEDULE;
extern const struct cfg_key KEY_TMPROV_WORKER_CONCURRENCY;

/* The worker's configuration with every key at its default; NULL when out of memory. */
struct cfg *wconfig_new(void);

#endif
