/* redirect: the partner's own start and join addresses (spec Sections 8 and 10), answered with a
 * 302 to TM's goto_downloader, so that users only ever see the partner's host name. */
#ifndef CALLBACK_REDIRECT_H
#define CALLBACK_REDIRECT_H

#include <microhttpd.h>

#include "request.h"

/* Longest meeting id accepted (the meetings table's limit). */
#define REDIRECT_MEETING_ID_MAX 100

/* /start → {TM}/as/wapi/goto_downloader?role=host */
enum MHD_Result redirect_start(struct request *rq, const char *tail);
/* /join/{meeting_id} → {TM}/as/wapi/goto_downloader?role=attendee&meeting_id={meeting_id} */
enum MHD_Result redirect_join(struct request *rq, const char *meeting_id);

#endif
