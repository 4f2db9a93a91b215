/* answer: builds and queues responses. Nothing is ever answered from request data without
 * going through xmlw (escaping) or a fixed text. */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The one place a response is made and queued. body is copied; location may be NULL. */
static enum MHD_Result
answer_send(struct request *rq, unsigned status, enum result r, const char *type, const char *body,
	    size_t len, const char *location)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	rq->result = r;
	if (resp == NULL) {
		rq->result = RESULT_ERROR;
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* Answers carry session URLs and personal data: no cache may keep them. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (location != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && rq->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->allow);
	rc = MHD_queue_response(rq->conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

void
answer_begin(struct xmlw *w, const char *status, const char *reason)
{
	xmlw_init(w, ANSWER_MAX);
	xmlw_open(w, "__Return__");
	xmlw_elem(w, "__Status__", status);
	xmlw_elem(w, "__Reason__", reason);
}

enum MHD_Result
answer_doc(struct request *rq, struct xmlw *w, enum result r)
{
	enum MHD_Result rc;
	size_t len = 0;
	int err = 0;
	char *doc;

	xmlw_close(w, "__Return__");
	doc = xmlw_finish(w, &len, &err);
	if (doc == NULL) {
		log_error("answer: document not written (%s)",
			  err == BUF_TOO_LARGE ? "too large" : "out of memory");
		return answer_status(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, RESULT_ERROR);
	}
	rc = answer_send(rq, MHD_HTTP_OK, r, "text/xml; charset=UTF-8", doc, len, NULL);
	free(doc);
	return rc;
}

enum MHD_Result
answer_failed(struct request *rq, enum result r, const char *reason)
{
	struct xmlw w;

	answer_begin(&w, "FAILED", reason);
	return answer_doc(rq, &w, r);
}

static const char *
answer_phrase(unsigned status)
{
	switch (status) {
	case MHD_HTTP_BAD_REQUEST:
		return "bad request";
	case MHD_HTTP_FORBIDDEN:
		return "forbidden";
	case MHD_HTTP_NOT_FOUND:
		return "not found";
	case MHD_HTTP_METHOD_NOT_ALLOWED:
		return "method not allowed";
	case MHD_HTTP_CONTENT_TOO_LARGE:
		return "request body too large";
	case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE:
		return "body must be a form";
	case MHD_HTTP_SERVICE_UNAVAILABLE:
		return "temporarily unavailable";
	default:
		return "internal error";
	}
}

enum MHD_Result
answer_status(struct request *rq, unsigned status, enum result r)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%s\n", answer_phrase(status));

	return answer_send(rq, status, r, "text/plain; charset=UTF-8", text, (size_t)n, NULL);
}

enum MHD_Result
answer_redirect(struct request *rq, const char *location)
{
	return answer_send(rq, MHD_HTTP_FOUND, RESULT_OK, "text/plain; charset=UTF-8",
			   "redirecting\n", 12, location);
}
