/* meetings: TM's scheduled-meetings query (spec Section 11) at the per-session URL that auth
 * handed out: the user's meetings that are not canceled and not long past, by start time. */
#ifndef CALLBACK_MEETINGS_H
#define CALLBACK_MEETINGS_H

#include <stdbool.h>

#include <libpq-fe.h>
#include <microhttpd.h>

#include "request.h"

#define MEETINGS_REASON_SESSION "session expired or invalid"

/* Handler of /tm/meetings/{token}; tail is the token. */
enum MHD_Result meetings_handle(struct request *rq, const char *tail);
/* listq's answer function (listq_answer_fn): rq's list, or why there is none. */
void meetings_ready(struct request *rq, PGresult *res, int first, int n, bool failed);

#endif
