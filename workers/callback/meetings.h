/* meetings: TM's scheduled-meetings query (spec Section 11) at the per-session URL that auth
 * handed out: the user's meetings that are not canceled and not long past, by start time. */
#ifndef CALLBACK_MEETINGS_H
#define CALLBACK_MEETINGS_H

#include <microhttpd.h>

#include "request.h"

#define MEETINGS_REASON_SESSION "session expired or invalid"

/* Handler of /tm/meetings/{token}; tail is the token. */
enum MHD_Result meetings_handle(struct request *rq, const char *tail);

#endif
