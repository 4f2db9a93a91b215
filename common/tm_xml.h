/* tm_xml: reads one TurboMeeting wapi answer (<__Return__><__Status__>…) into a tm_reply.
 * Hardened: size cap before parsing, no DTD of any kind, no entity expansion, no network. */
#ifndef TMPROV_TM_XML_H
#define TMPROV_TM_XML_H

#include <stddef.h>

/* Field sizes, without the terminating NUL. A value longer than its field is an error (a
 * truncated company_uid would point at another account), never silently cut; only a longer
 * __Reason__ is cut, ending in TM_REASON_CUT (and TM_HAS_REASON_CUT set). */
#define TM_STATUS_MAX	    32
#define TM_REASON_MAX	    1024
#define TM_COMPANY_UID_MAX  36 /* the spec: "up to 36-character ID" */
#define TM_COMPANY_NAME_MAX 255
#define TM_EMAIL_MAX	    254 /* RFC 5321 path limit */
#define TM_MEETING_ID_MAX   64
#define TM_REASON_CUT	    " [reason truncated]"
#define TM_NUMBER_MAX	    1000000000L /* rooms and participants are at most this */

/* Default cap on an answer's size; the largest real answer (query_account) is well under 2 KiB. */
#define TM_XML_DEFAULT_MAX (64 * 1024)

enum tm_status {
	TM_STATUS_OK,	  /* SUCCEED or SUCCEEDED */
	TM_STATUS_FAILED, /* FAILED: a business failure, explained by reason */
};

/* Which optional elements were present (a present element may still be empty). */
enum {
	TM_HAS_REASON = 1 << 0,
	TM_HAS_COMPANY_UID = 1 << 1,
	TM_HAS_COMPANY_NAME = 1 << 2,
	TM_HAS_EMAIL = 1 << 3,
	TM_HAS_ROOMS = 1 << 4,
	TM_HAS_PARTICIPANTS = 1 << 5,
	TM_HAS_MEETING_ID = 1 << 6,
	TM_HAS_REASON_CUT = 1 << 7, /* __Reason__ was longer than TM_REASON_MAX: cut */
};

struct tm_reply {
	enum tm_status status;
	unsigned has;			     /* TM_HAS_* */
	char status_text[TM_STATUS_MAX + 1]; /* as TM wrote it, trimmed; set even when unknown */
	char reason[TM_REASON_MAX + 1];
	char company_uid[TM_COMPANY_UID_MAX + 1];
	char company_name[TM_COMPANY_NAME_MAX + 1];
	char email[TM_EMAIL_MAX + 1];
	char meeting_id[TM_MEETING_ID_MAX + 1];
	long rooms, participants; /* -1 when absent */
};

/* Errors of tm_xml_parse. Each means "TM's answer is not a valid answer": a protocol error. */
enum tm_xml_error {
	TM_XML_ETOOLARGE = -1, /* body longer than max_len: not parsed at all */
	TM_XML_EDOCTYPE = -2,  /* a DOCTYPE / DTD: refused before parsing */
	TM_XML_ENOTXML = -3,   /* empty, not well-formed, HTML, not UTF-8 */
	TM_XML_EROOT = -4,     /* root element is not __Return__ */
	TM_XML_ESTATUS = -5,   /* __Status__ missing, repeated or not SUCCEED/SUCCEEDED/FAILED */
	TM_XML_EFIELD = -6, /* a known field too long, repeated, not a number or not plain text */
};

/* Parses body[0..len) (need not be NUL-terminated). Tag names match case-insensitively, values
 * are trimmed of surrounding whitespace, unknown elements are ignored. Returns 0 with out
 * filled (out->status says SUCCEED or FAILED), or a tm_xml_error with a message in err. */
int tm_xml_parse(const char *body, size_t len, size_t max_len, struct tm_reply *out, char *err,
		 size_t errlen);

/* Short stable name of a tm_xml_error ("too_large", "doctype", ...); "ok" for 0. */
const char *tm_xml_strerror(int rc);

#endif
