/* tm_xml: reads one TurboMeeting wapi answer (<__Return__><__Status__>…) into a tm_reply.
 * Hardened: size cap before parsing, no DTD of any kind, no entity expansion, no network. */
#include "tm_xml.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* NONET: never fetch anything. NOCDATA: CDATA arrives as plain text. IGNORE_ENC with the
 * forced "UTF-8" below: the bytes we scanned for DOCTYPE are the bytes libxml2 parses (no
 * encoding declaration can turn them into something else). Deliberately absent: NOENT
 * (entity expansion), DTDLOAD/DTDATTR/DTDVALID (DTD processing), HUGE (lifts the depth and
 * size limits). */
#define TM_XML_OPTIONS                                                                             \
	(XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC)

enum field_kind { F_STATUS, F_TEXT, F_NUMBER };

struct field {
	const char *tag;
	enum field_kind kind;
	unsigned has;
	size_t offset; /* of the char[] (F_TEXT) or long (F_NUMBER) in struct tm_reply */
	size_t max;    /* characters, F_TEXT only */
};

#define TEXT_FIELD(tag, bit, member)                                                               \
	{                                                                                          \
		tag, F_TEXT, bit, offsetof(struct tm_reply, member),                               \
		    sizeof(((struct tm_reply *)0)->member) - 1                                     \
	}
#define NUMBER_FIELD(tag, bit, member)                                                             \
	{                                                                                          \
		tag, F_NUMBER, bit, offsetof(struct tm_reply, member), 0                           \
	}

/* Matched case-insensitively: the spec writes __MeetingID__ in Section 7 and __MeetingId__ in
 * Section 11, and RHUB's pages __UserId__ where the spec says __UserID__. */
static const struct field fields[] = {
    {"__Status__", F_STATUS, 0, 0, 0},
    TEXT_FIELD("__Reason__", TM_HAS_REASON, reason),
    TEXT_FIELD("__CompanyUid__", TM_HAS_COMPANY_UID, company_uid),
    TEXT_FIELD("__CompanyName__", TM_HAS_COMPANY_NAME, company_name),
    TEXT_FIELD("__Email__", TM_HAS_EMAIL, email),
    NUMBER_FIELD("__NumberOfMeetingRoom__", TM_HAS_ROOMS, rooms),
    NUMBER_FIELD("__NumberOfParticipant__", TM_HAS_PARTICIPANTS, participants),
    TEXT_FIELD("__MeetingID__", TM_HAS_MEETING_ID, meeting_id),
};

static const char *const error_names[] = {"ok",	  "too_large", "doctype", "not_xml",
					  "root", "status",    "field"};

const char *
tm_xml_strerror(int rc)
{
	if (rc > 0 || -rc >= (int)(sizeof(error_names) / sizeof(error_names[0])))
		return "unknown";
	return error_names[-rc];
}

static void
init_once(void)
{
	xmlInitParser();
}

/* libxml2 would print its complaints on stderr; we report them through err instead. */
static void
silent_structured(void *ctx, xmlErrorPtr error)
{
	(void)ctx;
	(void)error;
}

static void
silent_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Case-insensitive search of an ASCII needle in a byte buffer that may hold anything. */
static bool
contains_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++) {
		if (hay[i] == '<' && strncasecmp(hay + i, needle, n) == 0)
			return true;
	}
	return false;
}

/* Checks done on the raw bytes, before libxml2 sees them. A DTD is refused here rather than
 * after parsing so that no entity declaration (billion laughs, external SYSTEM entities) is
 * ever processed. NUL bytes and a first character other than '<' also rule out UTF-16/32 and
 * EBCDIC, which would otherwise hide "<!DOCTYPE" from this byte scan. */
static int
precheck(const char *body, size_t len, size_t max_len, char *err, size_t errlen)
{
	size_t i = 0;

	if (len > max_len) {
		snprintf(err, errlen, "answer is %zu bytes, over the %zu-byte cap", len, max_len);
		return TM_XML_ETOOLARGE;
	}
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && is_space((unsigned char)body[i]))
		i++;
	if (i == len) {
		snprintf(err, errlen, "not XML: empty answer");
		return TM_XML_ENOTXML;
	}
	if (body[i] != '<') {
		snprintf(err, errlen, "not XML: answer does not start with '<'");
		return TM_XML_ENOTXML;
	}
	if (memchr(body, '\0', len) != NULL) {
		snprintf(err, errlen, "not XML: NUL byte in answer");
		return TM_XML_ENOTXML;
	}
	if (contains_ci(body, len, "<!DOCTYPE") || contains_ci(body, len, "<!ENTITY")) {
		snprintf(err, errlen, "DOCTYPE/ENTITY declarations are not allowed");
		return TM_XML_EDOCTYPE;
	}
	return 0;
}

/* Trims s in place (ASCII whitespace on both ends); returns its new length. */
static size_t
trim(char *s)
{
	size_t len = strlen(s), start = 0;

	while (start < len && is_space((unsigned char)s[start]))
		start++;
	while (len > start && is_space((unsigned char)s[len - 1]))
		len--;
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
	return len - start;
}

/* A field is plain text: text, CDATA (merged into text) and comments only. Markup inside a
 * value would make "the value" a matter of interpretation. */
static bool
is_plain(const xmlNode *node)
{
	for (const xmlNode *c = node->children; c != NULL; c = c->next) {
		if (c->type != XML_TEXT_NODE && c->type != XML_COMMENT_NODE)
			return false;
	}
	return true;
}

static int
parse_number(const char *s, long *out)
{
	char *end;
	long v;

	if (*s == '\0') {
		*out = -1;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > TM_NUMBER_MAX)
		return -1;
	*out = v;
	return 0;
}

static int
set_status(struct tm_reply *out, const char *value, char *err, size_t errlen)
{
	if (strlen(value) > TM_STATUS_MAX) {
		snprintf(err, errlen, "__Status__ is longer than %d characters", TM_STATUS_MAX);
		return TM_XML_ESTATUS;
	}
	strcpy(out->status_text, value);
	/* The spec writes SUCCEED for most calls and SUCCEEDED for query_account. */
	if (strcasecmp(value, "SUCCEED") == 0 || strcasecmp(value, "SUCCEEDED") == 0) {
		out->status = TM_STATUS_OK;
	} else if (strcasecmp(value, "FAILED") == 0) {
		out->status = TM_STATUS_FAILED;
	} else {
		snprintf(err, errlen, "unknown __Status__ \"%s\"", value);
		return TM_XML_ESTATUS;
	}
	return 0;
}

/* A reason is only read by people: an over-long one is cut (at a UTF-8 character boundary) and
 * says so, rather than turning TM's verdict into a protocol error. Other fields name things
 * and are never cut. */
static int
set_reason_cut(struct tm_reply *out, const char *value, size_t max)
{
	size_t keep = max - strlen(TM_REASON_CUT);

	/* Back off continuation bytes (10xxxxxx) to the start of a character. */
	while (keep > 0 && ((unsigned char)value[keep] & 0xC0) == 0x80)
		keep--;
	memcpy(out->reason, value, keep);
	memcpy(out->reason + keep, TM_REASON_CUT, strlen(TM_REASON_CUT) + 1);
	out->has |= TM_HAS_REASON_CUT;
	return 0;
}

static int
set_field(const struct field *f, struct tm_reply *out, const char *value, char *err, size_t errlen)
{
	char *base = (char *)out;
	size_t len = strlen(value);

	if (f->kind == F_NUMBER) {
		if (parse_number(value, (long *)(base + f->offset)) < 0) {
			snprintf(err, errlen, "%s is not a number from 0 to %ld", f->tag,
				 TM_NUMBER_MAX);
			return TM_XML_EFIELD;
		}
		return 0;
	}
	if (len > f->max && f->has == TM_HAS_REASON)
		return set_reason_cut(out, value, f->max);
	if (len > f->max) {
		snprintf(err, errlen, "%s is %zu bytes, over its %zu", f->tag, len, f->max);
		return TM_XML_EFIELD;
	}
	memcpy(base + f->offset, value, len + 1);
	return 0;
}

/* Reads one known element into out. seen tracks repeats: two __Status__ (or two company uids)
 * in one answer is not something to pick a winner from. */
static int
read_element(const xmlNode *node, const struct field *f, unsigned *seen, struct tm_reply *out,
	     char *err, size_t errlen)
{
	unsigned bit = 1u << (unsigned)(f - fields);
	xmlChar *content;
	int rc;

	if (*seen & bit) {
		snprintf(err, errlen, "%s appears more than once", f->tag);
		return f->kind == F_STATUS ? TM_XML_ESTATUS : TM_XML_EFIELD;
	}
	*seen |= bit;
	if (!is_plain(node)) {
		snprintf(err, errlen, "%s holds markup, not plain text", f->tag);
		return f->kind == F_STATUS ? TM_XML_ESTATUS : TM_XML_EFIELD;
	}
	content = xmlNodeGetContent(node);
	if (content == NULL) {
		snprintf(err, errlen, "out of memory reading %s", f->tag);
		return TM_XML_ENOTXML;
	}
	trim((char *)content);
	if (f->kind == F_STATUS) {
		rc = set_status(out, (const char *)content, err, errlen);
	} else {
		rc = set_field(f, out, (const char *)content, err, errlen);
		out->has |= f->has;
	}
	xmlFree(content);
	return rc;
}

static int
read_return(const xmlNode *root, struct tm_reply *out, char *err, size_t errlen)
{
	unsigned seen = 0;
	int rc;

	if (xmlStrcasecmp(root->name, BAD_CAST "__Return__") != 0) {
		snprintf(err, errlen, "root element is <%.64s>, not <__Return__>",
			 (const char *)root->name);
		return TM_XML_EROOT;
	}
	for (const xmlNode *n = root->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (xmlStrcasecmp(n->name, BAD_CAST fields[i].tag) != 0)
				continue;
			rc = read_element(n, &fields[i], &seen, out, err, errlen);
			if (rc < 0)
				return rc;
			break;
		}
	}
	if (!(seen & 1u)) {
		snprintf(err, errlen, "no __Status__ in answer");
		return TM_XML_ESTATUS;
	}
	return 0;
}

static void
parse_error(xmlParserCtxtPtr ctxt, char *err, size_t errlen)
{
	const xmlError *e = xmlCtxtGetLastError(ctxt);
	char msg[160] = "not well-formed";
	size_t len;

	if (e != NULL && e->message != NULL) {
		snprintf(msg, sizeof(msg), "%s", e->message);
		len = strlen(msg);
		while (len > 0 && is_space((unsigned char)msg[len - 1]))
			msg[--len] = '\0';
	}
	snprintf(err, errlen, "not XML: %s (line %d)", msg, e != NULL ? e->line : 0);
}

static void
reply_init(struct tm_reply *out)
{
	memset(out, 0, sizeof(*out));
	out->rooms = -1;
	out->participants = -1;
}

int
tm_xml_parse(const char *body, size_t len, size_t max_len, struct tm_reply *out, char *err,
	     size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root;
	int rc;

	reply_init(out);
	rc = precheck(body, len, max_len, err, errlen);
	if (rc < 0)
		return rc;
	if (len > (size_t)INT_MAX) /* unreachable with any sane cap; libxml2 takes an int */
		return TM_XML_ETOOLARGE;
	pthread_once(&once, init_once);
	/* Per thread in libxml2: errors raised without a parser context (encoding, memory). */
	xmlSetGenericErrorFunc(NULL, silent_generic);
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		snprintf(err, errlen, "out of memory creating the XML parser");
		rc = TM_XML_ENOTXML;
		goto out;
	}
	ctxt->sax->serror = silent_structured;
	doc = xmlCtxtReadMemory(ctxt, body, (int)len, "tm-answer.xml", "UTF-8", TM_XML_OPTIONS);
	if (doc == NULL || !ctxt->wellFormed) {
		parse_error(ctxt, err, errlen);
		rc = TM_XML_ENOTXML;
		goto out;
	}
	/* The byte scan already refused these; this is the second lock on the same door. */
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		snprintf(err, errlen, "DOCTYPE/ENTITY declarations are not allowed");
		rc = TM_XML_EDOCTYPE;
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL) {
		snprintf(err, errlen, "not XML: no root element");
		rc = TM_XML_ENOTXML;
		goto out;
	}
	rc = read_return(root, out, err, errlen);
out:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}
