/* answer: every answer tmprov-callback sends — TM's <__Return__> documents, plain HTTP errors
 * and redirects — goes out through this module's one send function, which also records the
 * request's result for the metrics. */
#ifndef CALLBACK_ANSWER_H
#define CALLBACK_ANSWER_H

#include <microhttpd.h>

#include "request.h"
#include "xmlw.h"

/* The largest document we send (a meeting list of TMPROV_MEETING_LIST_MAX long topics). */
#define ANSWER_MAX (8u << 20)

/* Starts a <__Return__> document: XML declaration, Status and Reason (reason NULL: empty). */
void answer_begin(struct xmlw *w, const char *status, const char *reason);
/* Closes </__Return__> and sends w's document with HTTP 200 (TM reads the outcome from Status,
 * not from the HTTP code), recording result r. Frees w's buffer. */
enum MHD_Result answer_doc(struct request *rq, struct xmlw *w, enum result r);
/* <__Return__> with Status FAILED and reason. */
enum MHD_Result answer_failed(struct request *rq, enum result r, const char *reason);
/* A plain-text HTTP error (403, 404, 405, 413, 415, 500, 503 ...). */
enum MHD_Result answer_status(struct request *rq, unsigned status, enum result r);
/* 302 Found to location. */
enum MHD_Result answer_redirect(struct request *rq, const char *location);

#endif
