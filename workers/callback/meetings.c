/* meetings: Section 11. Unknown, expired and revoked tokens share one Reason; valid ones are
 * extended and their lists read by the batch on listq's threads (session_meetings), and each
 * request is answered on its own thread once its connection is resumed. */
#include "meetings.h"

#include "answer.h"
#include "auth.h"
#include "listq.h"
#include "log.h"
#include "session.h"

/* The document for one user's list: n rows of session_meetings() from row first. */
static void
meetings_list(struct request *rq, PGresult *res, int first, int n)
{
	const struct cb *cb = rq->cb;
	struct xmlw *w = &rq->list_doc;

	answer_begin(w, "SUCCEED", NULL);
	xmlw_open(w, "__MeetingList__");
	for (int i = first; i < first + n && !PQgetisnull(res, i, SESSION_COL_MEETING); i++) {
		xmlw_open(w, "__Meeting__");
		xmlw_elem(w, "__MeetingId__", PQgetvalue(res, i, SESSION_COL_MEETING));
		xmlw_elem(w, "__ScheduledStartTime__", PQgetvalue(res, i, SESSION_COL_START));
		xmlw_elem(w, "__MeetingTopic__", PQgetvalue(res, i, SESSION_COL_TOPIC));
		xmlw_elem(w, "__JoinMeetingURL__", PQgetvalue(res, i, SESSION_COL_JOIN));
		xmlw_close(w, "__Meeting__");
	}
	xmlw_close(w, "__MeetingList__");
	if (n == cb->meeting_list_max)
		log_warn("meetings: list of user %s cut at TMPROV_MEETING_LIST_MAX (%ld)",
			 PQgetvalue(res, first, SESSION_COL_USER), cb->meeting_list_max);
	rq->list_result = RESULT_OK;
}

void
meetings_ready(struct request *rq, PGresult *res, int first, int n, bool failed)
{
	if (failed) {
		answer_begin(&rq->list_doc, "FAILED", AUTH_REASON_UNAVAILABLE);
		rq->list_result = RESULT_UNAVAILABLE;
	} else if (n == 0) {
		answer_begin(&rq->list_doc, "FAILED", MEETINGS_REASON_SESSION);
		rq->list_result = RESULT_FAILED;
	} else {
		meetings_list(rq, res, first, n);
	}
}

enum MHD_Result
meetings_handle(struct request *rq, const char *token)
{
	const struct cb *cb = rq->cb;
	const char *partner;

	/* Called again once listq resumed the connection: the answer is ready. */
	if (rq->list == LIST_ANSWERED)
		return answer_doc(rq, &rq->list_doc, rq->list_result);
	partner = request_param(rq, PARAM_PARTNER);
	if (rq->bad_form || rq->too_long)
		return answer_failed(rq, RESULT_BAD_REQUEST,
				     rq->bad_form ? AUTH_REASON_BAD_FORM : AUTH_REASON_TOO_LONG);
	/* Spec 3.3 dropped the query's parameters, but one that is sent must still be ours. */
	if (partner != NULL && !auth_partner_ok(cb, partner))
		return answer_failed(rq, RESULT_FAILED, AUTH_REASON_PARTNER);
	if (!session_token_valid(token))
		return answer_failed(rq, RESULT_FAILED, MEETINGS_REASON_SESSION);
	session_hash_hex(token, rq->list_hash);
	if (listq_submit(cb->lists, rq) != 0) {
		log_warn("meetings: stopping");
		return answer_failed(rq, RESULT_UNAVAILABLE, AUTH_REASON_UNAVAILABLE);
	}
	return MHD_YES;
}
