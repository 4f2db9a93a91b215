/* wapi: the TurboMeeting service calls. Effect, XML answer and call-log entry are made under
 * the simulator's lock, so the log order is the order of effects; waits happen outside it.
 * Which faults take effect: timeout, drop and malformed answers follow a call that happened
 * (the ambiguous cases a client must survive); error and html answers replace the call, as a
 * proxy in front of TM would. */
#include "wapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmlw.h"

#define NAME_MAX_BYTES	  255
#define EMAIL_MAX_BYTES	  254
#define USER_ID_MAX_BYTES 128
#define COUNT_MAX	  1000000L
#define XML_MAX		  (16 * 1024) /* far above the largest answer: values are capped above */

/* What one call did: its status, reason and the values its answer carries. */
struct outcome {
	enum call_status status;
	char reason[320];
	char uid[STORE_UID_LEN + 1];
	char meeting_id[STORE_MEETING_ID_LEN + 1];
	struct account_fields acct; /* query_account; borrowed from the store under the lock */
	char *xml;
	size_t len;
};

static int __attribute__((format(printf, 2, 3))) fail(struct outcome *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	out->status = CALL_FAILED;
	return -1;
}

/* Length of the valid UTF-8 sequence at s, or 0: no overlong forms, surrogates or > U+10FFFF. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Printable UTF-8 text without control characters (which XML 1.0 cannot carry). */
static int
text_ok(const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	while (*s) {
		size_t n = utf8_len(s);

		if (n == 0 || *s < 0x20 || *s == 0x7f)
			return 0;
		s += n;
	}
	return 1;
}

static int
need_text(const struct query *q, const char *name, size_t max, struct outcome *out,
	  const char **value)
{
	const char *v = query_get(q, name);

	if (v == NULL || *v == '\0')
		return fail(out, "%s is missing", name);
	if (strlen(v) > max)
		return fail(out, "%s is longer than %zu bytes", name, max);
	if (!text_ok(v))
		return fail(out, "%s is not valid UTF-8 text", name);
	*value = v;
	return 0;
}

/* A plausible address: local@domain.tld, no spaces or characters that need quoting. */
static int
email_ok(const char *v)
{
	const char *at = strchr(v, '@'), *domain;
	size_t local;

	if (at == NULL || strchr(at + 1, '@') != NULL || strpbrk(v, " \t<>()[],;:\"\\") != NULL)
		return 0;
	local = (size_t)(at - v);
	domain = at + 1;
	if (local == 0 || local > 64 || *domain == '\0' || *domain == '.' || *domain == '-')
		return 0;
	if (strchr(domain, '.') == NULL || strstr(domain, "..") != NULL ||
	    domain[strlen(domain) - 1] == '.')
		return 0;
	return 1;
}

/* A positive decimal integer in [1, COUNT_MAX]: digits only, as TM's forms expect. */
static int
need_count(const struct query *q, const char *name, struct outcome *out, long *value)
{
	const char *v = query_get(q, name);
	long n = 0;

	if (v == NULL || *v == '\0')
		return fail(out, "%s is missing", name);
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > COUNT_MAX)
			return fail(out, "%s must be a positive integer up to %ld", name,
				    COUNT_MAX);
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > COUNT_MAX)
		return fail(out, "%s must be a positive integer up to %ld", name, COUNT_MAX);
	*value = n;
	return 0;
}

/* The four fields of create_account and update_account. */
static int
need_fields(struct sim_state *st, const struct query *q, struct outcome *out,
	    struct account_fields *f)
{
	if (need_text(q, "company_name", NAME_MAX_BYTES, out, &f->company_name) != 0 ||
	    need_text(q, "email", EMAIL_MAX_BYTES, out, &f->email) != 0)
		return -1;
	if (!email_ok(f->email))
		return fail(out, "email is not a valid address");
	if (need_count(q, "number_of_meeting_room", out, &f->rooms) != 0 ||
	    need_count(q, "number_of_participant", out, &f->participants) != 0)
		return -1;
	if (faults_company_fails(st->faults, f->company_name))
		return fail(out, "company_name \"%.255s\" is refused (simulated by fail_company)",
			    f->company_name);
	return 0;
}

/* Checks every call shares: a well-formed query and our partner id. */
static int
check_common(struct sim_state *st, const struct query *q, struct outcome *out)
{
	const char *rep = query_repeated(q), *partner;

	if (q->too_many)
		return fail(out, "more than %d query parameters", QUERY_MAX_PARAMS);
	if (q->has_nul)
		return fail(out, "a parameter value contains a NUL byte");
	if (rep != NULL)
		return fail(out, "parameter %.64s is given more than once", rep);
	partner = query_get(q, "service_company_uid");
	if (partner == NULL || *partner == '\0')
		return fail(out, "service_company_uid is missing");
	if (strcmp(partner, st->partner) != 0)
		return fail(out, "service_company_uid is not a partner of this server");
	return 0;
}

static int
store_failed(int rc, struct outcome *out)
{
	switch (rc) {
	case STORE_OK:
		return 0;
	case STORE_NOT_FOUND:
		return fail(out, "company_uid does not exist");
	case STORE_FULL:
		return fail(out, "the server holds too many accounts or meetings");
	default:
		return fail(out, "out of memory");
	}
}

static void
do_create(struct sim_state *st, const struct query *q, struct outcome *out)
{
	struct account_fields f;

	if (need_fields(st, q, out, &f) == 0)
		store_failed(store_create(st->store, &f, out->uid), out);
}

static void
do_update(struct sim_state *st, const struct query *q, struct outcome *out)
{
	struct account_fields f;
	const char *uid;

	if (need_text(q, "company_uid", STORE_UID_LEN, out, &uid) == 0 &&
	    need_fields(st, q, out, &f) == 0)
		store_failed(store_update(st->store, uid, &f), out);
}

static void
do_delete(struct sim_state *st, const struct query *q, struct outcome *out)
{
	const char *uid;

	if (need_text(q, "company_uid", STORE_UID_LEN, out, &uid) == 0)
		store_failed(store_delete(st->store, uid), out);
}

static void
do_query(struct sim_state *st, const struct query *q, struct outcome *out)
{
	const char *uid;

	/* "If the user account has been deleted, FAILED will be returned": it is gone. */
	if (need_text(q, "company_uid", STORE_UID_LEN, out, &uid) == 0 &&
	    store_failed(store_get(st->store, uid, &out->acct), out) == 0)
		out->status = CALL_SUCCEEDED; /* the spec's own spelling for this call */
}

static void
do_schedule(struct sim_state *st, const struct query *q, struct outcome *out)
{
	const char *uid, *user;

	if (need_text(q, "company_uid", STORE_UID_LEN, out, &uid) == 0 &&
	    need_text(q, "user_id", USER_ID_MAX_BYTES, out, &user) == 0)
		store_failed(store_schedule(st->store, uid, user, out->meeting_id), out);
}

typedef void (*call_fn)(struct sim_state *st, const struct query *q, struct outcome *out);

static const call_fn calls[EP_COUNT] = {
    [EP_CREATE_ACCOUNT] = do_create,	[EP_UPDATE_ACCOUNT] = do_update,
    [EP_DELETE_ACCOUNT] = do_delete,	[EP_QUERY_ACCOUNT] = do_query,
    [EP_REMOTE_SCHEDULE] = do_schedule,
};

/* One element; spec style puts the value on its own indented line, as the spec's examples
 * are laid out, so that clients are seen to trim whitespace. */
static void
elem(struct xmlw *w, int spec, const char *tag, const char *value)
{
	if (!spec) {
		xmlw_elem(w, tag, value);
		return;
	}
	xmlw_text(w, "\n  ");
	xmlw_open(w, tag);
	xmlw_text(w, "\n    ");
	xmlw_text(w, value);
	xmlw_text(w, "\n  ");
	xmlw_close(w, tag);
}

static void
elem_long(struct xmlw *w, int spec, const char *tag, long value)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", value);
	elem(w, spec, tag, num);
}

static void
write_answer(enum endpoint ep, int spec, struct outcome *out)
{
	int ok = out->status != CALL_FAILED;
	struct xmlw w;

	xmlw_init(&w, XML_MAX);
	xmlw_open(&w, "__Return__");
	elem(&w, spec, "__Status__", call_status_name(out->status));
	elem(&w, spec, "__Reason__", out->reason);
	if (ep == EP_CREATE_ACCOUNT) /* empty when FAILED, as section 2 says */
		elem(&w, spec, "__CompanyUid__", ok ? out->uid : "");
	if (ep == EP_QUERY_ACCOUNT && ok) {
		elem(&w, spec, "__CompanyName__", out->acct.company_name);
		elem(&w, spec, "__Email__", out->acct.email);
		elem_long(&w, spec, "__NumberOfMeetingRoom__", out->acct.rooms);
		elem_long(&w, spec, "__NumberOfParticipant__", out->acct.participants);
	}
	if (ep == EP_REMOTE_SCHEDULE && ok)
		elem(&w, spec, "__MeetingID__", out->meeting_id);
	if (spec)
		xmlw_text(&w, "\n");
	xmlw_close(&w, "__Return__");
	out->xml = xmlw_finish(&w, &out->len, NULL);
}

/* Runs the call itself: checks, effect, answer. */
static void
call_run(struct sim_state *st, enum endpoint ep, const struct query *q, int spec,
	 struct outcome *out)
{
	out->status = CALL_SUCCEED;
	if (check_common(st, q, out) == 0)
		calls[ep](st, q, out);
	write_answer(ep, spec, out);
}

static char *
error_page(int status, size_t *len)
{
	char *page = NULL;
	int n;

	n = asprintf(&page,
		     "<!DOCTYPE html>\n<html><head><title>%d Error</title></head>"
		     "<body><h1>%d Error</h1><p>The TurboMeeting service is not available."
		     "</p></body></html>\n",
		     status, status);
	*len = n > 0 ? (size_t)n : 0;
	return n > 0 ? page : NULL;
}

/* Turns the outcome and the fault into the reply; takes out->xml. */
static void
reply_build(const struct fault_pick *pick, struct outcome *out, struct reply *rep)
{
	size_t len;
	char *page;

	rep->delay_ms = pick->latency_ms;
	switch (pick->kind) {
	case FAULT_ERROR:
		page = error_page(pick->status, &len);
		reply_set(rep, pick->status, "text/html", page, len);
		rep->retry_after = pick->retry_after;
		return;
	case FAULT_HTML:
		page = error_page(500, &len);
		reply_set(rep, 200, "text/html", page, len);
		return;
	case FAULT_DROP:
		rep->drop = 1;
		return;
	case FAULT_MALFORMED:
		/* Half the document: the root element is never closed, so no parser accepts it. */
		reply_set(rep, 200, "text/xml", out->xml, out->len / 2);
		out->xml = NULL;
		return;
	case FAULT_TIMEOUT:
		rep->delay_ms += pick->hold_ms;
		break;
	case FAULT_NONE:
		break;
	}
	if (out->xml == NULL) {
		reply_text(rep, 500, "text/plain", "answer too large\n");
		return;
	}
	reply_set(rep, 200, "text/xml", out->xml, out->len);
	out->xml = NULL;
}

void
wapi_handle(struct sim_state *st, int ep, const struct query *q, struct reply *rep)
{
	struct outcome out = {.status = CALL_NO_STATUS};
	struct fault_pick pick;
	enum mx_hostile mx;
	unsigned long seq;
	int garbled;

	state_lock(st);
	faults_pick(st->faults, ep, &pick);
	mx = mxfault_pick(st->mx, ep, q, &garbled);
	if (pick.kind != FAULT_ERROR && pick.kind != FAULT_HTML)
		call_run(st, ep, q, pick.spec_style, &out);
	if (pick.kind == FAULT_NONE && faults_garbles(st->faults, q))
		pick.kind = FAULT_MALFORMED;
	seq = calllog_add(st->log, ep, q, pick.kind, out.status, out.reason);
	state_unlock(st);
	log_debug("call seq=%lu endpoint=%s fault=%s status=%s reason=%s", seq, endpoint_name(ep),
		  fault_kind_name(pick.kind), call_status_name(out.status), out.reason);
	reply_build(&pick, &out, rep);
	mxfault_reply(mx, garbled, rep);
	free(out.xml);
}
