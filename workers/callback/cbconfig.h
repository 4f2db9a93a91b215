/* cbconfig: tmprov-callback's configuration table: its own keys and the shared ones (cfgkeys.h,
 * the groups of db and password) that it reads. */
#ifndef TMPROV_CALLBACK_CBCONFIG_H
#define TMPROV_CALLBACK_CBCONFIG_H

#include "cfgkeys.h"
#include "config.h"

extern const struct cfg_key KEY_TMPROV_AUTH_FAILURE_WINDOW;
extern const struct cfg_key KEY_TMPROV_AUTH_MAX_FAILURES;
extern const struct cfg_key KEY_TMPROV_CALLBACK_ALLOW;
extern const struct cfg_key KEY_TMPROV_CALLBACK_CONNECTION_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_CALLBACK_DB_RETRY;
extern const struct cfg_key KEY_TMPROV_CALLBACK_DRAIN_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_CALLBACK_LISTEN;
extern const struct cfg_key KEY_TMPROV_CALLBACK_MAX_BODY;
extern const struct cfg_key KEY_TMPROV_CALLBACK_MAX_CONNECTIONS;
extern const struct cfg_key KEY_TMPROV_CALLBACK_MAX_CONNECTIONS_PER_IP;
extern const struct cfg_key KEY_TMPROV_CALLBACK_MAX_HEADER_BYTES;
extern const struct cfg_key KEY_TMPROV_CALLBACK_MAX_OUTSIDE_CONNECTIONS;
extern const struct cfg_key KEY_TMPROV_CALLBACK_PURGE_INTERVAL;
extern const struct cfg_key KEY_TMPROV_CALLBACK_THREADS;
extern const struct cfg_key KEY_TMPROV_CALLBACK_TLS_CERT;
extern const struct cfg_key KEY_TMPROV_CALLBACK_TLS_KEY;
extern const struct cfg_key KEY_TMPROV_CALLBACK_TRUSTED_PROXIES;
extern const struct cfg_key KEY_TMPROV_MEETING_LIST_MAX;
extern const struct cfg_key KEY_TMPROV_MEETING_LIST_PAST;
extern const struct cfg_key KEY_TMPROV_MEETING_TIMEZONE;
extern const struct cfg_key KEY_TMPROV_SESSION_TTL;

/* The callback's configuration with every key at its default; NULL when out of memory. */
struct cfg *cbconfig_new(void);

#endif
