/* cmd_meeting: meeting.schedule (remote_schedule, then the meeting with our own join URL) and
 * meeting.cancel (local: the meeting leaves the list TM is shown). */
#ifndef TMPROV_WORKER_CMD_MEETING_H
#define TMPROV_WORKER_CMD_MEETING_H

#include <stddef.h>

#include "cmd.h"

/* meeting.schedule's halves; meeting.cancel is local (cmd_handler). */
cmd_prepare cmd_meeting_schedule_prepare;
cmd_answer cmd_meeting_schedule_answer;
enum cmd_verdict cmd_meeting_cancel(const struct cmd_env *env, const struct cmd_state *st,
				    struct cmd_result *r);

/* TMPROV_JOIN_URL_TEMPLATE with {PUBLIC_URL} (without a trailing slash) and {meeting_id}
 * (percent-encoded) substituted. Returns 0, or -1 when the result would not fit in outlen. */
int cmd_join_url(const char *template, const char *public_url, const char *meeting_id, char *out,
		 size_t outlen);

#endif
