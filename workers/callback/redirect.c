/* redirect: builds TM's downloader URLs. The spec spells the join role "attende"; TM's own public
 * pages (and servers) use "attendee", which is what we send. */
#include "redirect.h"

#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "buf.h"

#define REDIRECT_PATH "/as/wapi/goto_downloader"

/* Appends s percent-encoded: everything but RFC 3986 unreserved characters. BUF_OK or the
 * first error. */
static int
redirect_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = BUF_OK;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			rc = rc ? rc : buf_append(b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			rc = rc ? rc : buf_append(b, e, 3);
		}
	}
	return rc;
}

/* Answers with b's URL unless building it failed (berr); frees b. */
static enum MHD_Result
redirect_to(struct request *rq, struct buf *b, int berr)
{
	enum MHD_Result rc;

	if (berr != BUF_OK || b->data == NULL)
		rc = answer_status(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, RESULT_ERROR);
	else
		rc = answer_redirect(rq, b->data);
	buf_free(b);
	return rc;
}

enum MHD_Result
redirect_start(struct request *rq, const char *tail)
{
	struct buf b;
	int berr;

	(void)tail;
	buf_init(&b, 8192);
	berr = buf_printf(&b, "%s" REDIRECT_PATH "?role=host", rq->cb->tm_url);
	return redirect_to(rq, &b, berr);
}

enum MHD_Result
redirect_join(struct request *rq, const char *meeting_id)
{
	struct buf b;
	int berr;

	if (strlen(meeting_id) > REDIRECT_MEETING_ID_MAX)
		return answer_status(rq, MHD_HTTP_NOT_FOUND, RESULT_NOT_FOUND);
	buf_init(&b, 8192);
	berr = buf_printf(&b, "%s" REDIRECT_PATH "?role=attendee&meeting_id=", rq->cb->tm_url);
	if (berr == BUF_OK)
		berr = redirect_encode(&b, meeting_id);
	return redirect_to(rq, &b, berr);
}
