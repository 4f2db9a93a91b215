/* cbconfig: tmprov-callback's configuration table: its own keys (alphabetical) and the shared
 * ones it reads, with its admin port and the keys it cannot start without. */
#include "cbconfig.h"

#include <stddef.h>

#include "db.h"
#include "password.h"

CFG_KEY(TMPROV_AUTH_FAILURE_WINDOW, CFG_MS, "15m", 0, 1000, 86400000, NULL,
	"Window in which TMPROV_AUTH_MAX_FAILURES failed logins of one email trip the throttle.");
CFG_KEY(TMPROV_AUTH_MAX_FAILURES, CFG_INT, "5", 0, 0, 1000000, NULL,
	"Failed logins per email (any case) within the window after which logins of that email "
	"are refused without checking the password; 0 turns the throttle off.");
CFG_KEY(TMPROV_CALLBACK_ALLOW, CFG_STRING, "127.0.0.1/32,::1/128", 0, 0, 0, NULL,
	"Comma-separated CIDRs allowed to call; everyone else gets 403 (TM's server address).");
CFG_KEY(TMPROV_CALLBACK_CONNECTION_TIMEOUT, CFG_MS, "10s", 0, 1000, 3600000, NULL,
	"A connection idle (or sending this slowly) for this long is closed (whole seconds).");
CFG_KEY(TMPROV_CALLBACK_DB_RETRY, CFG_MS, "500ms", 0, 100, 60000, NULL,
	"After a failed database connect, a request thread answers \"temporarily unavailable\" "
	"at once for this long before trying again.");
CFG_KEY(TMPROV_CALLBACK_DRAIN_TIMEOUT, CFG_MS, "10s", 0, 0, 600000, NULL,
	"On SIGTERM, how long requests in flight may take to finish before the server stops.");
CFG_KEY(TMPROV_CALLBACK_LISTEN, CFG_LISTEN, "127.0.0.1:8090", 0, 0, 0, NULL,
	"Address and port of the callback server (`--listen`); port 0 picks a free one.");
CFG_KEY(TMPROV_CALLBACK_MAX_BODY, CFG_INT, "8192", 0, 256, 1048576, NULL,
	"Largest request body (a form POST), bytes; larger gets 413.");
CFG_KEY(TMPROV_CALLBACK_MAX_CONNECTIONS, CFG_INT, "512", 0, 1, 100000, NULL,
	"Concurrent connections in total.");
CFG_KEY(TMPROV_CALLBACK_MAX_CONNECTIONS_PER_IP, CFG_INT, "128", 0, 1, 100000, NULL,
	"Concurrent connections from one address (TM's server is usually one address).");
CFG_KEY(TMPROV_CALLBACK_MAX_OUTSIDE_CONNECTIONS, CFG_INT, "16", 0, 0, 100000, NULL,
	"Concurrent connections from addresses outside TMPROV_CALLBACK_ALLOW (each answered 403); "
	"more are closed as soon as they are accepted, so that slow clients from elsewhere cannot "
	"hold the connections TM's server needs.");
CFG_KEY(TMPROV_CALLBACK_MAX_HEADER_BYTES, CFG_INT, "32768", 0, 8192, 1048576, NULL,
	"Memory per connection for the request line and headers; a longer URL or header block "
	"is refused (414/431).");
CFG_KEY(TMPROV_CALLBACK_PURGE_INTERVAL, CFG_MS, "5m", 0, 1000, 86400000, NULL,
	"How often expired sessions and old login failures are deleted.");
CFG_KEY(TMPROV_CALLBACK_THREADS, CFG_INT, "4", 0, 1, 256, NULL,
	"Request threads, each with its own PostgreSQL connection.");
CFG_KEY(TMPROV_CALLBACK_TLS_CERT, CFG_STRING, NULL, 0, 0, 0, NULL,
	"PEM file of the server certificate (the chain after it, if any): with "
	"TMPROV_CALLBACK_TLS_KEY the callback speaks HTTPS only (TLS 1.2 or 1.3); set both or "
	"neither.");
CFG_KEY(TMPROV_CALLBACK_TLS_KEY, CFG_STRING, NULL, 0, 0, 0, NULL,
	"PEM file of the certificate's private key, unencrypted (protect it with file "
	"permissions); read once at start-up and never logged.");
CFG_KEY(TMPROV_CALLBACK_TRUSTED_PROXIES, CFG_STRING, NULL, 0, 0, 0, NULL,
	"Comma-separated CIDRs of reverse proxies in front of the callback. Only from these peers "
	"is X-Forwarded-For read: its right-most address that is not one of them is the caller "
	"checked against TMPROV_CALLBACK_ALLOW and logged. From any other peer the header is "
	"ignored.");
CFG_KEY(TMPROV_MEETING_LIST_MAX, CFG_INT, "500", 0, 1, 100000, NULL,
	"Most meetings in one list (the earliest first).");
CFG_KEY(TMPROV_MEETING_LIST_PAST, CFG_MS, "24h", 0, 0, 2592000000, NULL,
	"Meetings that started longer ago than this are left out of the list.");
CFG_KEY(TMPROV_MEETING_TIMEZONE, CFG_STRING, "UTC", 0, 0, 0, NULL,
	"Time zone of ScheduledStartTime (any IANA name PostgreSQL knows, e.g. Europe/Paris).");
CFG_KEY(TMPROV_SESSION_TTL, CFG_MS, "20m", 0, 1200000, 604800000, NULL,
	"Login session lifetime, extended by each use; the spec wants at least 20 minutes.");

static const struct cfg_key *const callback_keys[] = {
    &KEY_TMPROV_ADMIN_LISTEN,
    &KEY_TMPROV_AUTH_FAILURE_WINDOW,
    &KEY_TMPROV_AUTH_MAX_FAILURES,
    &KEY_TMPROV_CALLBACK_ALLOW,
    &KEY_TMPROV_CALLBACK_CONNECTION_TIMEOUT,
    &KEY_TMPROV_CALLBACK_DB_RETRY,
    &KEY_TMPROV_CALLBACK_DRAIN_TIMEOUT,
    &KEY_TMPROV_CALLBACK_LISTEN,
    &KEY_TMPROV_CALLBACK_MAX_BODY,
    &KEY_TMPROV_CALLBACK_MAX_CONNECTIONS,
    &KEY_TMPROV_CALLBACK_MAX_CONNECTIONS_PER_IP,
    &KEY_TMPROV_CALLBACK_MAX_HEADER_BYTES,
    &KEY_TMPROV_CALLBACK_MAX_OUTSIDE_CONNECTIONS,
    &KEY_TMPROV_CALLBACK_PURGE_INTERVAL,
    &KEY_TMPROV_CALLBACK_THREADS,
    &KEY_TMPROV_CALLBACK_TLS_CERT,
    &KEY_TMPROV_CALLBACK_TLS_KEY,
    &KEY_TMPROV_CALLBACK_TRUSTED_PROXIES,
    &KEY_TMPROV_HASH_CONCURRENCY,
    &KEY_TMPROV_HEALTH_STALL_TIMEOUT,
    &KEY_TMPROV_LOG_LEVEL,
    &KEY_TMPROV_MEETING_LIST_MAX,
    &KEY_TMPROV_MEETING_LIST_PAST,
    &KEY_TMPROV_MEETING_TIMEZONE,
    &KEY_TMPROV_PARTNER_ID,
    &KEY_TMPROV_PUBLIC_URL,
    &KEY_TMPROV_SESSION_TTL,
    &KEY_TMPROV_TM_URL,
};

static const struct cfg_override callback_overrides[] = {
    {&KEY_TMPROV_ADMIN_LISTEN, "127.0.0.1:9465", 0},
    {&KEY_TMPROV_PARTNER_ID, NULL, CFG_REQUIRED},
    {&KEY_TMPROV_TM_URL, NULL, CFG_REQUIRED},
};

struct cfg *
cbconfig_new(void)
{
	const struct cfg_list lists[] = {
	    {callback_keys, CFG_KEYS_LEN(callback_keys)},
	    {DB_CONFIG_KEYS, DB_CONFIG_NKEYS},
	    {PASSWORD_CONFIG_KEYS, PASSWORD_CONFIG_NKEYS},
	};

	return cfg_compose(lists, CFG_KEYS_LEN(lists), callback_overrides,
			   CFG_KEYS_LEN(callback_overrides));
}
