/* meetings: Section 11. Unknown, expired and revoked tokens share one Reason; a valid one is
 * extended and its list read in one statement (session_meetings). */
#include "meetings.h"

#include "answer.h"
#include "auth.h"
#include "log.h"
#include "session.h"
#include "cbsql.h"

static enum MHD_Result
meetings_unavailable(struct request *rq, const char *err)
{
	log_warn("meetings: %s", err);
	return answer_failed(rq, RESULT_UNAVAILABLE, AUTH_REASON_UNAVAILABLE);
}

/* The document for one user's list: the rows of session_meetings(). */
static enum MHD_Result
meetings_answer(struct request *rq, PGresult *res)
{
	const struct cb *cb = rq->cb;
	int n = PQntuples(res);
	struct xmlw w;

	answer_begin(&w, "SUCCEED", NULL);
	xmlw_open(&w, "__MeetingList__");
	for (int i = 0; i < n && !PQgetisnull(res, i, 1); i++) {
		xmlw_open(&w, "__Meeting__");
		xmlw_elem(&w, "__MeetingId__", PQgetvalue(res, i, 1));
		xmlw_elem(&w, "__ScheduledStartTime__", PQgetvalue(res, i, 2));
		xmlw_elem(&w, "__MeetingTopic__", PQgetvalue(res, i, 3));
		xmlw_elem(&w, "__JoinMeetingURL__", PQgetvalue(res, i, 4));
		xmlw_close(&w, "__Meeting__");
	}
	xmlw_close(&w, "__MeetingList__");
	if (n == cb->meeting_list_max)
		log_warn("meetings: list of user %s cut at TMPROV_MEETING_LIST_MAX (%ld)",
			 PQgetvalue(res, 0, 0), cb->meeting_list_max);
	return answer_doc(rq, &w, RESULT_OK);
}

enum MHD_Result
meetings_handle(struct request *rq, const char *token)
{
	const struct cb *cb = rq->cb;
	const struct session_list list = {cb->session_ttl_ms, cb->timezone, cb->meeting_past_ms,
					  cb->meeting_list_max};
	const char *partner = request_param(rq, PARAM_PARTNER);
	PGresult *res = NULL;
	enum MHD_Result rc;
	struct db *db;
	char err[256];

	if (rq->bad_form || rq->too_long)
		return answer_failed(rq, RESULT_BAD_REQUEST,
				     rq->bad_form ? AUTH_REASON_BAD_FORM : AUTH_REASON_TOO_LONG);
	/* Spec 3.3 dropped the query's parameters, but one that is sent must still be ours. */
	if (partner != NULL && !auth_partner_ok(cb, partner))
		return answer_failed(rq, RESULT_FAILED, AUTH_REASON_PARTNER);
	if (!session_token_valid(token))
		return answer_failed(rq, RESULT_FAILED, MEETINGS_REASON_SESSION);
	if ((db = cbpool_get(cb->dbpool, err, sizeof(err))) == NULL)
		return meetings_unavailable(rq, err);
	switch (session_meetings(db, token, &list, &res, err, sizeof(err))) {
	case 1:
		rc = meetings_answer(rq, res);
		break;
	case 0:
		rc = answer_failed(rq, RESULT_FAILED, MEETINGS_REASON_SESSION);
		break;
	default:
		rc = meetings_unavailable(rq, err);
	}
	PQclear(res);
	return rc;
}
