/* cb: what every request handler may read — the settings fixed at start-up and the shared
 * services — built once by main and read-only afterwards (so shared by all pool threads). */
#ifndef CALLBACK_CB_H
#define CALLBACK_CB_H

#include <stddef.h>

#include "cbpool.h"
#include "hashgate.h"
#include "metrics.h"
#include "netaddr.h"
#include "password.h"
#include "throttle.h"

struct cb {
	const char *public_url; /* TMPROV_PUBLIC_URL without a trailing '/' */
	const char *tm_url;	/* TMPROV_TM_URL without a trailing '/' */
	const char *partner_id; /* TMPROV_PARTNER_ID: a secret, never logged */
	long session_ttl_ms;
	long meeting_past_ms;
	long meeting_list_max;
	const char *timezone;
	size_t max_body;
	struct netaddr_allow allow;
	struct netaddr_allow trusted; /* TMPROV_CALLBACK_TRUSTED_PROXIES; n == 0: none */
	struct throttle_opts throttle;
	struct password_opts password;
	struct cbpool *dbpool;
	struct hashgate *hashes;
	struct metrics *metrics;
};

#endif
