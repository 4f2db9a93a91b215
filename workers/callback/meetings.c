/* meetings: Section 11. Unknown, expired and revoked tokens share one Reason; a valid one is
 * extended before the list is read (session_use does both in one statement). */
#include "meetings.h"

#include <stdio.h>
#include <stdlib.h>

#include "answer.h"
#include "auth.h"
#include "log.h"
#include "session.h"
#include "sql.h"

static enum MHD_Result
meetings_unavailable(struct request *rq, const char *err)
{
	log_warn("meetings: %s", err);
	return answer_failed(rq, RESULT_UNAVAILABLE, AUTH_REASON_UNAVAILABLE);
}

/* The document for one user's list. */
static enum MHD_Result
meetings_answer(struct request *rq, struct db *db, const char *subject, const char *user_id)
{
	const struct cb *cb = rq->cb;
	char past[32], max[32], err[256];
	const char *params[5] = {subject, user_id, cb->timezone, past, max};
	PGresult *res;
	struct xmlw w;
	enum MHD_Result rc;

	snprintf(past, sizeof(past), "%ld", cb->meeting_past_ms);
	snprintf(max, sizeof(max), "%ld", cb->meeting_list_max);
	if ((res = sql_run(db, SQL_MEETINGS, 5, params, err, sizeof(err))) == NULL)
		return meetings_unavailable(rq, err);
	answer_begin(&w, "SUCCEED", NULL);
	xmlw_open(&w, "__MeetingList__");
	for (int i = 0; i < PQntuples(res); i++) {
		xmlw_open(&w, "__Meeting__");
		xmlw_elem(&w, "__MeetingId__", PQgetvalue(res, i, 0));
		xmlw_elem(&w, "__ScheduledStartTime__", PQgetvalue(res, i, 1));
		xmlw_elem(&w, "__MeetingTopic__", PQgetvalue(res, i, 2));
		xmlw_elem(&w, "__JoinMeetingURL__", PQgetvalue(res, i, 3));
		xmlw_close(&w, "__Meeting__");
	}
	xmlw_close(&w, "__MeetingList__");
	if (PQntuples(res) == cb->meeting_list_max)
		log_warn("meetings: list of user %s cut at TMPROV_MEETING_LIST_MAX (%ld)", user_id,
			 cb->meeting_list_max);
	PQclear(res);
	rc = answer_doc(rq, &w, RESULT_OK);
	return rc;
}

enum MHD_Result
meetings_handle(struct request *rq, const char *token)
{
	const struct cb *cb = rq->cb;
	const char *partner = request_param(rq, PARAM_PARTNER);
	char *subject = NULL, *user_id = NULL, err[256];
	enum MHD_Result rc;
	struct db *db;

	if (rq->bad_form || rq->too_long)
		return answer_failed(rq, RESULT_BAD_REQUEST,
				     rq->bad_form ? AUTH_REASON_BAD_FORM : AUTH_REASON_TOO_LONG);
	/* Spec 3.3 dropped the query's parameters, but one that is sent must still be ours. */
	if (partner != NULL && !auth_partner_ok(cb, partner))
		return answer_failed(rq, RESULT_FAILED, AUTH_REASON_PARTNER);
	if (!session_token_valid(token))
		return answer_failed(rq, RESULT_FAILED, MEETINGS_REASON_SESSION);
	if ((db = dbpool_get(cb->dbpool, err, sizeof(err))) == NULL)
		return meetings_unavailable(rq, err);
	switch (session_use(db, token, cb->session_ttl_ms, &subject, &user_id, err, sizeof(err))) {
	case 1:
		rc = meetings_answer(rq, db, subject, user_id);
		break;
	case 0:
		rc = answer_failed(rq, RESULT_FAILED, MEETINGS_REASON_SESSION);
		break;
	default:
		rc = meetings_unavailable(rq, err);
	}
	free(subject);
	free(user_id);
	return rc;
}
