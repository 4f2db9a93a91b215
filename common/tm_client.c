/* tm_client: calls the TurboMeeting wapi (create/update/delete/query_account, remote_schedule)
 * with libcurl and classifies each attempt: ok, business failure, not sent, ambiguous, transient.
 * One client per thread; its curl handle keeps the connection for idempotent calls. */
#include "tm_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "cfgkeys.h"
#include "log.h"
#include "clock.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "dev" /* the fuzz build compiles common/ without the Makefile's flags */
#endif

#define RETRY_AFTER_MAX_LEN 64
#define REDACTED	    "REDACTED"
/* Shorter "secrets" are not scrubbed from free text: replacing every "42" would garble TM's
 * reasons without protecting anything. The audit URL is redacted whatever the length. */
#define SCRUB_MIN_LEN 6

const struct cfg_key *const TM_CONFIG_KEYS[] = {
    &KEY_TMPROV_TM_URL,	    &KEY_TMPROV_PARTNER_ID,	 &KEY_TMPROV_TM_CONNECT_TIMEOUT,
    &KEY_TMPROV_TM_TIMEOUT, &KEY_TMPROV_TM_MAX_RESPONSE, &KEY_TMPROV_TM_RETRY_AFTER_MAX,
};
const size_t TM_CONFIG_NKEYS = sizeof(TM_CONFIG_KEYS) / sizeof(TM_CONFIG_KEYS[0]);

struct tm_client {
	CURL *curl;
	char *base_url;
	char *partner_id;
	long retry_after_max_ms;
	size_t max_response;
	struct buf body;
	char retry_after[RETRY_AFTER_MAX_LEN + 1]; /* "" when the answer had none */
	bool has_retry_after;
	char errbuf[CURL_ERROR_SIZE];
	enum tm_endpoint endpoint;   /* of the call begun */
	bool (*may_send)(void *arg); /* of the call begun: tm_request */
	void *may_send_arg;
	bool refused; /* may_send said no */
};

static const char *const endpoint_names[TM_ENDPOINT_COUNT] = {
    "create_account", "update_account", "delete_account", "query_account", "remote_schedule",
};

static const char *const outcome_names[] = {"ok", "failed", "not_sent", "ambiguous", "transient"};

const char *
tm_endpoint_name(enum tm_endpoint ep)
{
	if ((unsigned)ep >= TM_ENDPOINT_COUNT)
		return "unknown";
	return endpoint_names[ep];
}

const char *
tm_outcome_name(enum tm_outcome outcome)
{
	if ((unsigned)outcome >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "unknown";
	return outcome_names[outcome];
}

bool
tm_endpoint_idempotent(enum tm_endpoint ep)
{
	/* TM has no idempotency keys: a repeated create makes a second account, a repeated
	 * remote_schedule a second meeting. */
	return ep == TM_UPDATE_ACCOUNT || ep == TM_DELETE_ACCOUNT || ep == TM_QUERY_ACCOUNT;
}

bool
tm_endpoint_reuses_connection(enum tm_endpoint ep)
{
	return ep == TM_UPDATE_ACCOUNT || ep == TM_QUERY_ACCOUNT;
}

/* ---- URL building ---- */

struct urlw {
	char *out;
	size_t cap, len;
	bool full;  /* nothing more is written: the URL did not fit, or */
	bool nomem; /* libcurl could not allocate an escaped value */
};

static void
urlw_raw(struct urlw *w, const char *s, size_t n)
{
	if (w->full || n >= w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
	w->out[w->len] = '\0';
}

/* libcurl's percent-encoding: everything but the RFC 3986 unreserved characters, so a space is
 * %20, never '+' (which TM's form decoding could read either way; CURLU's CURLU_URLENCODE would
 * write '+' in a query). Since libcurl 7.82 the handle argument is unused, hence NULL: URLs are
 * built without a client (tm_build_url). Out of memory marks the URL as failed. */
static void
urlw_escaped(struct urlw *w, const char *s)
{
	char *enc = curl_easy_escape(NULL, s, 0);

	if (enc == NULL) {
		w->full = w->nomem = true;
		return;
	}
	urlw_raw(w, enc, strlen(enc));
	curl_free(enc);
}

static void
urlw_param(struct urlw *w, const char *name, const char *value)
{
	urlw_raw(w, "&", 1);
	urlw_raw(w, name, strlen(name));
	urlw_raw(w, "=", 1);
	urlw_escaped(w, value);
}

static int
check_base_url(const char *base, char *err, size_t errlen)
{
	if (base == NULL ||
	    (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0)) {
		snprintf(err, errlen, "TM base URL must start with http:// or https://");
		return -1;
	}
	if (strpbrk(base, "?# \t\r\n") != NULL) {
		snprintf(err, errlen, "TM base URL must not hold a query, fragment or space");
		return -1;
	}
	/* What a URL may hold as written (RFC 3986); the audit trail stores it as JSON text. */
	for (const unsigned char *p = (const unsigned char *)base; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			snprintf(err, errlen,
				 "TM base URL must be printable ASCII (a domain name in its xn-- "
				 "form, other bytes percent-encoded)");
			return -1;
		}
	}
	return 0;
}

/* Checks that the request holds what its endpoint sends (see struct tm_request). */
static int
check_request(const struct tm_request *req, char *err, size_t errlen)
{
	enum tm_endpoint ep = req->endpoint;
	bool account = ep == TM_CREATE_ACCOUNT || ep == TM_UPDATE_ACCOUNT;
	const char *missing = NULL;

	if ((unsigned)ep >= TM_ENDPOINT_COUNT) {
		snprintf(err, errlen, "unknown TM endpoint %d", (int)ep);
		return -1;
	}
	if (ep != TM_CREATE_ACCOUNT && (req->company_uid == NULL || !*req->company_uid))
		missing = "company_uid";
	else if (account && (req->company_name == NULL || !*req->company_name))
		missing = "company_name";
	else if (account && (req->email == NULL || !*req->email))
		missing = "email";
	else if (account && req->rooms < 0)
		missing = "number_of_meeting_room";
	else if (account && req->participants < 0)
		missing = "number_of_participant";
	else if (ep == TM_REMOTE_SCHEDULE && (req->user_id == NULL || !*req->user_id))
		missing = "user_id";
	if (missing != NULL) {
		snprintf(err, errlen, "%s: %s is missing", tm_endpoint_name(ep), missing);
		return -1;
	}
	return 0;
}

int
tm_build_url(const char *base_url, const char *partner_id, const struct tm_request *req,
	     bool redact, char *out, size_t outlen, char *err, size_t errlen)
{
	struct urlw w = {out, outlen, 0, outlen == 0, false};
	size_t base_len;
	char num[24];

	if (check_base_url(base_url, err, errlen) < 0 || check_request(req, err, errlen) < 0)
		return -1;
	if (partner_id == NULL || !*partner_id) {
		snprintf(err, errlen, "partner id (service_company_uid) is missing");
		return -1;
	}
	if (outlen > 0)
		out[0] = '\0';
	base_len = strlen(base_url);
	while (base_len > 0 && base_url[base_len - 1] == '/')
		base_len--;
	urlw_raw(&w, base_url, base_len);
	urlw_raw(&w, "/as/wapi/service/", 17);
	urlw_raw(&w, tm_endpoint_name(req->endpoint), strlen(tm_endpoint_name(req->endpoint)));
	urlw_raw(&w, "?service_company_uid=", 21);
	if (redact)
		urlw_raw(&w, REDACTED, strlen(REDACTED));
	else
		urlw_escaped(&w, partner_id);
	/* Parameter order follows the spec's tables. */
	switch (req->endpoint) {
	case TM_CREATE_ACCOUNT:
	case TM_UPDATE_ACCOUNT:
		urlw_param(&w, "company_name", req->company_name);
		urlw_param(&w, "email", req->email);
		snprintf(num, sizeof(num), "%ld", req->rooms);
		urlw_param(&w, "number_of_meeting_room", num);
		snprintf(num, sizeof(num), "%ld", req->participants);
		urlw_param(&w, "number_of_participant", num);
		if (req->endpoint == TM_UPDATE_ACCOUNT)
			urlw_param(&w, "company_uid", req->company_uid);
		break;
	case TM_DELETE_ACCOUNT:
	case TM_QUERY_ACCOUNT:
		urlw_param(&w, "company_uid", req->company_uid);
		break;
	case TM_REMOTE_SCHEDULE:
		urlw_param(&w, "company_uid", req->company_uid);
		urlw_param(&w, "user_id", req->user_id);
		break;
	}
	if (w.full) {
		if (w.nomem)
			snprintf(err, errlen, "out of memory escaping the %s URL",
				 tm_endpoint_name(req->endpoint));
		else
			snprintf(err, errlen, "%s URL is longer than %zu bytes",
				 tm_endpoint_name(req->endpoint), outlen > 0 ? outlen - 1 : 0);
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---- classification ---- */

enum tm_outcome
tm_classify(CURLcode rc, long http_status, bool request_sent)
{
	/* The write callback refused the body over its cap (or, for a caller that sets
	 * CURLOPT_MAXFILESIZE, Content-Length announced too much): TM answered, just not
	 * something we read. */
	if (rc == CURLE_WRITE_ERROR || rc == CURLE_FILESIZE_EXCEEDED)
		return TM_TRANSIENT;
	/* Any other transport failure: harmless if no byte of the request left (no connection,
	 * DNS, connect timeout, TLS handshake); otherwise TM may have acted on it (timeout after
	 * sending, reset or close mid-answer, GOT_NOTHING, RECV_ERROR, PARTIAL_FILE). */
	if (rc != CURLE_OK)
		return request_sent ? TM_AMBIGUOUS : TM_NOT_SENT;
	if (http_status >= 200 && http_status < 300)
		return TM_OK;
	/* Any other status is transient: 5xx, 429, 408, and 3xx/4xx too. TM's own verdict is a
	 * FAILED answer (in a 2xx, or in a 4xx whose body is one: read_error_body); a 401, 403,
	 * 404 or redirect without it comes from what stands in front of TM (a load balancer,
	 * a proxy being reconfigured), says nothing about the command, and must not turn a
	 * backlog into permanent failures. Redirects are never followed: the partner id must
	 * not travel elsewhere. */
	return TM_TRANSIENT;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Kept rather than CURLINFO_RETRY_AFTER, for what libcurl 7.88.1 (Debian 12) reports there,
 * measured against a loopback server: an absent header, "0", "soon", "-5" and
 * "99999999999999999999999" all read 0, so a server asking for a very long wait would be
 * retried at once instead of after TMPROV_TM_RETRY_AFTER_MAX; a date 30 s past reads -30.
 * The HTTP-date itself is read by libcurl here too: curl_getdate is the parser behind
 * CURLINFO_RETRY_AFTER (all three date forms of RFC 9110). Only the digits are ours. */
long
tm_retry_after_ms(const char *value, time_t now, long max_ms)
{
	char v[RETRY_AFTER_MAX_LEN + 1];
	long long secs;
	size_t n;
	time_t when;

	if (value == NULL)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	if (n == 0 || n > RETRY_AFTER_MAX_LEN)
		return -1;
	memcpy(v, value, n);
	v[n] = '\0';
	if (all_digits(v, n)) {
		errno = 0;
		secs = strtoll(v, NULL, 10);
		if (errno == ERANGE)
			return max_ms;
	} else {
		when = curl_getdate(v, NULL); /* HTTP-date and its two obsolete forms */
		if (when == -1)
			return -1;
		secs = when > now ? (long long)(when - now) : 0;
	}
	if (secs > max_ms / 1000)
		return max_ms;
	return (long)(secs * 1000);
}

/* Replaces every occurrence of secret in s (a buffer of size bytes) with REDACTED. */
static void
scrub(char *s, size_t size, const char *secret)
{
	size_t slen = strlen(secret), n = 0;
	char *tmp;

	if (slen < SCRUB_MIN_LEN || strstr(s, secret) == NULL || (tmp = malloc(size)) == NULL)
		return;
	for (const char *p = s; *p && n + 1 < size;) {
		if (strncmp(p, secret, slen) == 0) {
			n += (size_t)snprintf(tmp + n, size - n, "%s", REDACTED);
			if (n >= size)
				n = size - 1;
			p += slen;
		} else {
			tmp[n++] = *p++;
		}
	}
	tmp[n] = '\0';
	memcpy(s, tmp, n + 1);
	free(tmp);
}

static void
copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void
tm_result_init(struct tm_result *res)
{
	memset(res, 0, sizeof(*res));
	res->retry_after_ms = -1;
	res->rooms = -1;
	res->participants = -1;
}

static void
transport_error(struct tm_result *res, const struct tm_response *resp, size_t max_body)
{
	if (resp->rc == CURLE_WRITE_ERROR || resp->rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(res->error, sizeof(res->error), "response too large (over %zu bytes)",
			 max_body);
		return;
	}
	snprintf(res->error, sizeof(res->error), "%s%s%s", curl_easy_strerror(resp->rc),
		 resp->curl_error && *resp->curl_error ? ": " : "",
		 resp->curl_error ? resp->curl_error : "");
}

/* A 4xx whose body is TM's own FAILED answer is TM's verdict: a business failure. Not for
 * 5xx: a server that failed cannot be trusted to have not acted. */
static bool
read_error_body(struct tm_result *res, const struct tm_response *resp, size_t max_body)
{
	struct tm_reply r;
	char perr[200];

	if (resp->http_status < 400 || resp->http_status >= 500 || resp->body == NULL ||
	    tm_xml_parse(resp->body, resp->body_len, max_body, &r, perr, sizeof(perr)) != 0 ||
	    r.status != TM_STATUS_FAILED)
		return false;
	res->outcome = TM_FAILED;
	copy(res->tm_status, sizeof(res->tm_status), r.status_text);
	copy(res->reason, sizeof(res->reason), r.reason[0] ? r.reason : "FAILED without a reason");
	snprintf(res->error, sizeof(res->error), "TM FAILED (HTTP %ld): %.200s", resp->http_status,
		 res->reason);
	return true;
}

static void
http_error(struct tm_result *res, const struct tm_response *resp, size_t max_body,
	   long retry_after_max_ms)
{
	long st = resp->http_status;

	if (read_error_body(res, resp, max_body))
		return;
	if (st >= 300 && st < 400)
		snprintf(res->error, sizeof(res->error),
			 "HTTP %ld without a TM answer (redirects are not followed)", st);
	else
		snprintf(res->error, sizeof(res->error), "HTTP %ld without a TM answer", st);
	if (st == 429 || st >= 500)
		res->retry_after_ms =
		    tm_retry_after_ms(resp->retry_after, time(NULL), retry_after_max_ms);
}

/* The element a success of this endpoint must carry; NULL when it is complete. */
static const char *
missing_field(enum tm_endpoint ep, const struct tm_reply *r)
{
	switch (ep) {
	case TM_CREATE_ACCOUNT:
		return r->company_uid[0] ? NULL : "__CompanyUid__";
	case TM_REMOTE_SCHEDULE:
		return r->meeting_id[0] ? NULL : "__MeetingID__";
	case TM_QUERY_ACCOUNT:
		/* Drift detection compares all four: a partial view would report false drift. */
		if (!(r->has & TM_HAS_COMPANY_NAME))
			return "__CompanyName__";
		if (!(r->has & TM_HAS_EMAIL))
			return "__Email__";
		if (r->rooms < 0)
			return "__NumberOfMeetingRoom__";
		if (r->participants < 0)
			return "__NumberOfParticipant__";
		return NULL;
	case TM_UPDATE_ACCOUNT:
	case TM_DELETE_ACCOUNT:
		return NULL;
	}
	return NULL;
}

static void
read_answer(struct tm_result *res, enum tm_endpoint ep, const struct tm_response *resp,
	    size_t max_body)
{
	struct tm_reply r;
	char perr[200];
	const char *missing;
	int rc;

	rc = tm_xml_parse(resp->body ? resp->body : "", resp->body ? resp->body_len : 0, max_body,
			  &r, perr, sizeof(perr));
	copy(res->tm_status, sizeof(res->tm_status), r.status_text);
	if (rc < 0) {
		res->outcome = TM_TRANSIENT;
		snprintf(res->error, sizeof(res->error), "protocol error: %s", perr);
		return;
	}
	if (r.status == TM_STATUS_FAILED) {
		res->outcome = TM_FAILED;
		copy(res->reason, sizeof(res->reason),
		     r.reason[0] ? r.reason : "FAILED without a reason");
		snprintf(res->error, sizeof(res->error), "TM FAILED: %.200s", res->reason);
		return;
	}
	missing = missing_field(ep, &r);
	if (missing != NULL) {
		res->outcome = TM_TRANSIENT;
		snprintf(res->error, sizeof(res->error), "protocol error: %s without %s",
			 r.status_text, missing);
		return;
	}
	res->outcome = TM_OK;
	copy(res->company_uid, sizeof(res->company_uid), r.company_uid);
	copy(res->company_name, sizeof(res->company_name), r.company_name);
	copy(res->email, sizeof(res->email), r.email);
	copy(res->meeting_id, sizeof(res->meeting_id), r.meeting_id);
	res->rooms = r.rooms;
	res->participants = r.participants;
}

static bool
may_have_acted(const struct tm_result *res)
{
	long st = res->http_status;

	switch (res->outcome) {
	case TM_OK:
	case TM_AMBIGUOUS:
		return true;
	case TM_TRANSIENT:
		/* 3xx and 4xx (408 too) answer before the request is carried out. */
		return (st >= 200 && st < 300) || st == 500 || st == 502 || st == 504;
	case TM_FAILED:
	case TM_NOT_SENT:
		return false;
	}
	return true;
}

bool
tm_result_tm_answered(const struct tm_result *res)
{
	switch (res->outcome) {
	case TM_OK:
	case TM_FAILED:
		return true;
	case TM_TRANSIENT:
		return res->http_status >= 200 && res->http_status < 300;
	case TM_NOT_SENT:
	case TM_AMBIGUOUS:
		return false;
	}
	return false;
}

void
tm_result_from_response(struct tm_result *res, enum tm_endpoint ep, const struct tm_response *resp,
			size_t max_body, long retry_after_max_ms, const char *partner_id)
{
	tm_result_init(res);
	res->http_status = resp->http_status;
	res->outcome = tm_classify(resp->rc, resp->http_status, resp->request_sent);
	if (resp->rc != CURLE_OK)
		transport_error(res, resp, max_body);
	else if (res->outcome != TM_OK)
		http_error(res, resp, max_body, retry_after_max_ms);
	else
		read_answer(res, ep, resp, max_body);
	res->may_have_acted = may_have_acted(res);
	if (partner_id != NULL) {
		scrub(res->reason, sizeof(res->reason), partner_id);
		scrub(res->error, sizeof(res->error), partner_id);
	}
}

/* ---- the client ---- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct tm_client *tc = userp;

	/* Over the cap (or, far less likely, out of memory): returning short makes the
	 * transfer stop with CURLE_WRITE_ERROR, read as "response too large". */
	if (buf_append(&tc->body, data, size * nmemb) != BUF_OK)
		return 0;
	return size * nmemb;
}

/* Keeps Retry-After of the final answer (an interim 1xx starts a new header block). */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct tm_client *tc = userp;
	size_t n = size * nmemb, skip = strlen("Retry-After:");

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		tc->has_retry_after = false;
		tc->retry_after[0] = '\0';
	} else if (n > skip && strncasecmp(data, "Retry-After:", skip) == 0) {
		n -= skip;
		if (n > RETRY_AFTER_MAX_LEN)
			n = RETRY_AFTER_MAX_LEN;
		memcpy(tc->retry_after, data + skip, n);
		tc->retry_after[n] = '\0';
		tc->has_retry_after = true;
	}
	return size * nmemb;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int
check_opts(const struct tm_client_opts *o, char *err, size_t errlen)
{
	if (check_base_url(o->base_url, err, errlen) < 0)
		return -1;
	if (o->partner_id == NULL || !*o->partner_id || strlen(o->partner_id) > TM_PARTNER_MAX) {
		snprintf(err, errlen, "partner id must be 1 to %d characters", TM_PARTNER_MAX);
		return -1;
	}
	if (o->connect_timeout_ms <= 0 || o->timeout_ms <= 0) {
		snprintf(err, errlen, "TM timeouts must be positive");
		return -1;
	}
	if (o->max_response_bytes == 0 || o->retry_after_max_ms < 0) {
		snprintf(err, errlen, "TM response cap must be positive, Retry-After cap >= 0");
		return -1;
	}
	return 0;
}

/* CURLOPT_PREREQFUNCTION: the connection is ready, no byte of the request has left. */
static int
on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
	  int conn_local_port)
{
	struct tm_client *tc = userp;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	if (tc->may_send == NULL || tc->may_send(tc->may_send_arg))
		return CURL_PREREQFUNC_OK;
	tc->refused = true;
	return CURL_PREREQFUNC_ABORT;
}

static int
setup_curl(struct tm_client *tc, const struct tm_client_opts *o)
{
	CURL *c = tc->curl;
	CURLcode rc = CURLE_OK;
	char agent[64];

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* One request per HTTP/1.1 connection at a time: what was sent is what TM saw. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, tc);
	/* TM's answers are a few hundred bytes: libcurl's smallest receive buffer (1 KiB), not its
	 * 16 KiB, in every transfer (a tm_loop holds one per call in flight; a larger answer is
	 * read in more pieces, up to TMPROV_TM_MAX_RESPONSE as before). */
	SET(CURLOPT_BUFFERSIZE, 1024L);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, tc);
	SET(CURLOPT_ERRORBUFFER, tc->errbuf);
	SET(CURLOPT_PREREQFUNCTION, on_prereq);
	SET(CURLOPT_PREREQDATA, tc);
	/* The process in the agent: TM's logs (and tmsim's call log) tell which worker called. */
	snprintf(agent, sizeof(agent), "tmprov/%s (pid %ld)", TMPROV_VERSION, (long)getpid());
	SET(CURLOPT_USERAGENT, agent);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

struct tm_client *
tm_client_new(const struct tm_client_opts *opts, char *err, size_t errlen)
{
	struct tm_client *tc = NULL;

	if (check_opts(opts, err, errlen) < 0)
		return NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(global_rc));
		return NULL;
	}
	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		goto nomem;
	buf_init(&tc->body, opts->max_response_bytes);
	tc->max_response = opts->max_response_bytes;
	tc->retry_after_max_ms = opts->retry_after_max_ms;
	tc->base_url = strdup(opts->base_url);
	tc->partner_id = strdup(opts->partner_id);
	tc->curl = curl_easy_init();
	if (tc->base_url == NULL || tc->partner_id == NULL || tc->curl == NULL)
		goto nomem;
	if (setup_curl(tc, opts) < 0) {
		snprintf(err, errlen, "libcurl refused an option (http/https support missing?)");
		tm_client_free(tc);
		return NULL;
	}
	return tc;
nomem:
	snprintf(err, errlen, "out of memory creating the TM client");
	tm_client_free(tc);
	return NULL;
}

void
tm_client_free(struct tm_client *tc)
{
	if (tc == NULL)
		return;
	if (tc->curl != NULL)
		curl_easy_cleanup(tc->curl);
	buf_free(&tc->body);
	/* The secret should not linger in freed memory. */
	if (tc->partner_id != NULL)
		explicit_bzero(tc->partner_id, strlen(tc->partner_id));
	free(tc->partner_id);
	free(tc->base_url);
	free(tc);
}

int
tm_client_opts_from_cfg(struct tm_client_opts *opts, const struct cfg *c)
{
	opts->base_url = cfg_str(c, &KEY_TMPROV_TM_URL);
	opts->partner_id = cfg_str(c, &KEY_TMPROV_PARTNER_ID);
	opts->connect_timeout_ms = cfg_int(c, &KEY_TMPROV_TM_CONNECT_TIMEOUT);
	opts->timeout_ms = cfg_int(c, &KEY_TMPROV_TM_TIMEOUT);
	opts->max_response_bytes = (size_t)cfg_int(c, &KEY_TMPROV_TM_MAX_RESPONSE);
	opts->retry_after_max_ms = cfg_int(c, &KEY_TMPROV_TM_RETRY_AFTER_MAX);
	return opts->base_url != NULL && opts->partner_id != NULL ? 0 : -1;
}

/* Sets the per-call options. A create, delete or remote_schedule gets a connection of its own,
 * closed afterwards: on a reused connection that turns out dead libcurl silently sends the
 * request again, and for these calls "again" means a second account or meeting, or a delete
 * whose "no such account" hides that the first acted (tm_endpoint_reuses_connection). */
static int
prepare(struct tm_client *tc, const char *url, bool reuse)
{
	long fresh = reuse ? 0L : 1L;

	buf_reset(&tc->body);
	tc->has_retry_after = false;
	tc->retry_after[0] = '\0';
	tc->errbuf[0] = '\0';
	if (curl_easy_setopt(tc->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(tc->curl, CURLOPT_FRESH_CONNECT, fresh) != CURLE_OK ||
	    curl_easy_setopt(tc->curl, CURLOPT_FORBID_REUSE, fresh) != CURLE_OK)
		return -1;
	return 0;
}

/* At debug level, the request about to go (its audit copy: the partner id redacted). */
static void
log_request(const struct tm_client *tc, const struct tm_request *req)
{
	char *audit;

	if (!log_enabled(LOG_DEBUG))
		return;
	audit = tm_audit_url(tc->base_url, req);
	log_debug("tm %s: sending %s", tm_endpoint_name(req->endpoint),
		  audit != NULL ? audit : "(out of memory)");
	free(audit);
}

/* The URL is built on the heap for the moment libcurl takes its copy (CURLOPT_URL copies): a
 * client in a tm_loop's free list holds no 4 KiB buffer for it. Ours is wiped at once (the
 * partner id is in it); libcurl's copy lives until the next call or tm_client_free. */
int
tm_client_begin(struct tm_client *tc, const struct tm_request *req, struct tm_result *res)
{
	char *url = malloc(TM_URL_MAX);
	int rc = -1;

	tm_result_init(res);
	tc->endpoint = req->endpoint;
	tc->may_send = req->may_send;
	tc->may_send_arg = req->may_send_arg;
	tc->refused = false;
	if (url == NULL)
		copy(res->error, sizeof(res->error), "out of memory building the request URL");
	else if (tm_build_url(tc->base_url, tc->partner_id, req, false, url, TM_URL_MAX, res->error,
			      sizeof(res->error)) == 0 &&
		 prepare(tc, url, tm_endpoint_reuses_connection(req->endpoint)) == 0) {
		rc = 0;
		log_request(tc, req);
	}
	if (url != NULL) {
		explicit_bzero(url, TM_URL_MAX);
		free(url);
	}
	if (rc < 0) {
		res->outcome = TM_NOT_SENT;
		if (!res->error[0])
			copy(res->error, sizeof(res->error), "libcurl refused the request URL");
	}
	return rc;
}

char *
tm_audit_url(const char *base_url, const struct tm_request *req)
{
	char err[TM_ERROR_MAX + 1];
	char *url = malloc(TM_URL_MAX), *fit;

	if (url == NULL)
		return NULL;
	/* Redacted: the partner id is not written, only checked to be there. */
	if (tm_build_url(base_url, REDACTED, req, true, url, TM_URL_MAX, err, sizeof(err)) < 0) {
		free(url);
		return NULL;
	}
	fit = realloc(url, strlen(url) + 1);
	return fit != NULL ? fit : url;
}

CURL *
tm_client_handle(struct tm_client *tc)
{
	return tc->curl;
}

void
tm_client_end(struct tm_client *tc, CURLcode rc, double elapsed_ms, struct tm_result *res)
{
	struct tm_response resp = {.rc = rc};
	long request_size = 0;

	curl_easy_getinfo(tc->curl, CURLINFO_RESPONSE_CODE, &resp.http_status);
	curl_easy_getinfo(tc->curl, CURLINFO_REQUEST_SIZE, &request_size);
	resp.request_sent = request_size > 0;
	resp.curl_error = tc->errbuf;
	resp.retry_after = tc->has_retry_after ? tc->retry_after : NULL;
	resp.body = tc->body.data;
	resp.body_len = tc->body.len;
	tm_result_from_response(res, tc->endpoint, &resp, tc->max_response, tc->retry_after_max_ms,
				tc->partner_id);
	res->elapsed_ms = elapsed_ms;
	if (tc->refused && res->outcome == TM_NOT_SENT) {
		res->refused_by_sender = true;
		copy(res->error, sizeof(res->error),
		     "not sent: the sender's last check refused it");
	}
	curl_easy_getinfo(tc->curl, CURLINFO_NUM_CONNECTS, &res->new_connections);
	log_debug("tm %s: %s http=%ld %.1fms%s%s", tm_endpoint_name(tc->endpoint),
		  tm_outcome_name(res->outcome), res->http_status, res->elapsed_ms,
		  res->error[0] ? " error=" : "", res->error);
}

int
tm_client_call(struct tm_client *tc, const struct tm_request *req, struct tm_result *res)
{
	double start;
	CURLcode rc;

	if (tm_client_begin(tc, req, res) < 0)
		return -1;
	start = clock_now_ms_f();
	rc = curl_easy_perform(tc->curl);
	tm_client_end(tc, rc, clock_now_ms_f() - start, res);
	return 0;
}
