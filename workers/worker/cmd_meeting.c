/* cmd_meeting: meeting.schedule (remote_schedule, then the meeting with our own join URL) and
 * meeting.cancel (local: the meeting leaves the list TM is shown). */
#include "cmd_meeting.h"

#include <stdio.h>
#include <string.h>

enum { MEETING_JOIN_URL_MAX = 2048 }; /* meeting.scheduled's join_url maxLength */
_Static_assert(TM_MEETING_ID_MAX + 1 + MEETING_JOIN_URL_MAX + 1 <= CMD_STORE_MAX,
	       "a scheduled meeting's id and join URL fit in a result's store");

/* Appends n bytes of s to out[*len..], keeping room for the NUL. */
static int
join_put(char *out, size_t outlen, size_t *len, const char *s, size_t n)
{
	if (n >= outlen - *len)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* RFC 3986 unreserved characters pass, everything else is %XX: TM's meeting ids are opaque. */
static int
join_put_encoded(char *out, size_t outlen, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (join_put(out, outlen, len, s, 1) != 0)
				return -1;
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		if (join_put(out, outlen, len, esc, 3) != 0)
			return -1;
	}
	return 0;
}

int
cmd_join_url(const char *template, const char *public_url, const char *meeting_id, char *out,
	     size_t outlen)
{
	static const char pub[] = "{PUBLIC_URL}", mid[] = "{meeting_id}";
	size_t len = 0, publen = strlen(public_url);
	const char *p = template;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (publen > 0 && public_url[publen - 1] == '/')
		publen--;
	while (*p) {
		if (strncmp(p, pub, sizeof(pub) - 1) == 0) {
			if (join_put(out, outlen, &len, public_url, publen) != 0)
				return -1;
			p += sizeof(pub) - 1;
		} else if (strncmp(p, mid, sizeof(mid) - 1) == 0) {
			if (join_put_encoded(out, outlen, &len, meeting_id) != 0)
				return -1;
			p += sizeof(mid) - 1;
		} else {
			if (join_put(out, outlen, &len, p, 1) != 0)
				return -1;
			p++;
		}
	}
	return 0;
}

/* meetings references users: no TM call for a meeting that could not be stored. */
enum cmd_verdict
cmd_meeting_schedule_prepare(const struct cmd_env *env, const struct cmd_state *st,
			     struct cmd_result *r, struct cmd_tm *c)
{
	if (!st->user_active) {
		cmd_fail(r, env->cmd, "no such user", false, NULL);
		return CMD_DONE;
	}
	c->req.company_uid = st->company_uid;
	c->req.user_id = cmd_str(env->cmd, "user_id");
	return CMD_GO_ON;
}

enum cmd_verdict
cmd_meeting_schedule_answer(const struct cmd_env *env, const struct cmd_state *st,
			    struct cmd_result *r, struct cmd_tm *c, enum cmd_verdict called)
{
	const struct command *cmd = env->cmd;
	const char *user_id = c->req.user_id, *tm_id = tmretry_last(&c->tr)->meeting_id;
	char join[MEETING_JOIN_URL_MAX + 1];
	const char *meeting_id;

	(void)st;
	if (called != CMD_GO_ON)
		return called;
	meeting_id = cmd_keep(r, tm_id);
	if (cmd_join_url(env->join_template, env->public_url, tm_id, join, sizeof(join)) != 0) {
		/* TM did schedule the meeting, so a re-send would make a second one. */
		cmd_fail(r, cmd, "join URL longer than 2048 bytes: check TMPROV_JOIN_URL_TEMPLATE",
			 false, NULL);
		return CMD_DONE;
	}
	cmd_succeed(r, env->spec,
		    outcome_scheduled_data(tm_id, user_id, cmd_str(cmd, "topic"),
					   cmd_str(cmd, "start_time"), join,
					   r->possible_duplicate));
	cmd_param(r, meeting_id);
	cmd_param(r, user_id);
	cmd_param(r, cmd_str(cmd, "topic"));
	cmd_param(r, cmd_str(cmd, "start_time"));
	cmd_param(r, cmd_keep(r, join));
	cmd_param(r, r->possible_duplicate ? "true" : "false");
	return CMD_DONE;
}

enum cmd_verdict
cmd_meeting_cancel(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const char *meeting_id = cmd_str(env->cmd, "meeting_id");

	/* Another subject's meeting is as unknown to this subject as a missing one. */
	if (!st->meeting_exists || !st->meeting_ours) {
		cmd_fail(r, env->cmd, "no such meeting", false, NULL);
		return CMD_DONE;
	}
	cmd_succeed(r, env->spec, outcome_id_data("meeting_id", meeting_id));
	cmd_param(r, meeting_id);
	return CMD_DONE;
}
