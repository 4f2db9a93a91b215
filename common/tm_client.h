/* tm_client: calls the TurboMeeting wapi (create/update/delete/query_account, remote_schedule)
 * with libcurl and classifies each attempt: ok, business failure, not sent, ambiguous, transient.
 * One client per thread; its curl handle keeps the connection for idempotent calls. */
#ifndef TMPROV_TM_CLIENT_H
#define TMPROV_TM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "tm_xml.h"

#define TM_URL_MAX     4096 /* request URL, parameters encoded */
#define TM_ERROR_MAX   255
#define TM_PARTNER_MAX 128

enum tm_endpoint {
	TM_CREATE_ACCOUNT,
	TM_UPDATE_ACCOUNT,
	TM_DELETE_ACCOUNT,
	TM_QUERY_ACCOUNT,
	TM_REMOTE_SCHEDULE,
};
#define TM_ENDPOINT_COUNT 5

enum tm_outcome {
	TM_OK,	      /* SUCCEED/SUCCEEDED with the fields the call returns */
	TM_FAILED,    /* business failure: a parsed FAILED answer with TM's Reason; not retried */
	TM_NOT_SENT,  /* no request reached TM (no connection): safe to repeat */
	TM_AMBIGUOUS, /* sent, no complete answer: the effect may or may not have happened */
	TM_TRANSIENT, /* no usable answer: any HTTP error without TM's FAILED body (5xx, 429, 3xx,
		       * a load balancer's 401/403/404), or a 2xx unparseable or oversize */
};
#define TM_OUTCOME_COUNT 5

struct tm_client_opts {
	const char *base_url;	/* {TM}, e.g. "https://tm.example.com" (no query, no fragment) */
	const char *partner_id; /* service_company_uid: a secret, never logged */
	long connect_timeout_ms;
	long timeout_ms;	   /* whole call */
	size_t max_response_bytes; /* answer body cap */
	long retry_after_max_ms;   /* Retry-After is clamped to this */
};

/* What to call. Strings are borrowed. Which fields an endpoint needs (the vendor spec v3.4):
 *   create_account: company_name, email, rooms, participants
 *   update_account: company_uid, company_name, email, rooms, participants (all four always)
 *   delete_account, query_account: company_uid
 *   remote_schedule: company_uid, user_id (the spec defines no topic or time parameter) */
struct tm_request {
	enum tm_endpoint endpoint;
	const char *company_uid;
	const char *company_name;
	const char *email;
	const char *user_id;
	long rooms;	   /* number_of_meeting_room */
	long participants; /* number_of_participant */
	/* Asked on the thread that sends, once the connection is ready and just before the
	 * request's first byte goes out: false sends nothing (TM_NOT_SENT, refused_by_sender).
	 * A worker's last ownership check, as close to the wire as it can be: a call queued or
	 * connecting when the process was frozen (SIGSTOP) is not sent when it wakes without its
	 * partitions. NULL: always sent. Asked before each send (libcurl sends a query or update
	 * again on a kept connection found dead, and asks again); must not block; may_send_arg
	 * must stay valid until the call ends (through a tm_loop: until its done has run). */
	bool (*may_send)(void *arg);
	void *may_send_arg;
};

struct tm_result {
	enum tm_outcome outcome;
	long http_status;    /* 0 when no HTTP answer */
	long retry_after_ms; /* -1: TM gave none (or not a transient answer) */
	/* Whether TM may have carried the call out: TM_OK, TM_AMBIGUOUS, and a TM_TRANSIENT that
	 * is a 2xx answer we could not read (TM answered, so it processed the request) or a
	 * 500/502/504 (TM or a gateway failed after the request got through). A caller that
	 * must not repeat a create or remote_schedule treats such a TM_TRANSIENT like
	 * TM_AMBIGUOUS. False for TM_NOT_SENT, TM_FAILED, 408, 429 and 503. */
	bool may_have_acted;
	double elapsed_ms;
	bool refused_by_sender; /* TM_NOT_SENT because the request's may_send said no */
	long new_connections; /* connections opened for this call (0: a query or update reused one)
			       */
	char tm_status[TM_STATUS_MAX + 1]; /* __Status__ as TM wrote it, "" when none */
	char reason[TM_REASON_MAX + 1];	   /* TM_FAILED: TM's Reason (cut: tm_xml.h) */
	char company_uid[TM_COMPANY_UID_MAX + 1];
	char company_name[TM_COMPANY_NAME_MAX + 1];
	char email[TM_EMAIL_MAX + 1];
	char meeting_id[TM_MEETING_ID_MAX + 1];
	long rooms, participants;     /* query_account; -1 otherwise */
	char error[TM_ERROR_MAX + 1]; /* every outcome but TM_OK: what went wrong */
};

/* A finished transfer, as a caller driving libcurl itself (curl multi) sees it. */
struct tm_response {
	CURLcode rc;
	long http_status;
	bool request_sent;	 /* CURLINFO_REQUEST_SIZE > 0 */
	const char *curl_error;	 /* CURLOPT_ERRORBUFFER text, NULL or "" for none */
	const char *retry_after; /* Retry-After header value, NULL when absent */
	const char *body;
	size_t body_len;
};

/* Settings: TMPROV_TM_URL, TMPROV_PARTNER_ID (secret), TMPROV_TM_CONNECT_TIMEOUT,
 * TMPROV_TM_TIMEOUT, TMPROV_TM_MAX_RESPONSE, TMPROV_TM_RETRY_AFTER_MAX. None is marked
 * required: a program that needs a client decides that. */
extern const struct cfg_key *const TM_CONFIG_KEYS[];
extern const size_t TM_CONFIG_NKEYS;

/* Fills opts from a configuration holding TM_CONFIG_KEYS (strings stay owned by cfg).
 * Returns -1 when TMPROV_TM_URL or TMPROV_PARTNER_ID is unset. */
int tm_client_opts_from_cfg(struct tm_client_opts *opts, const struct cfg *c);

struct tm_client;

/* Copies what it needs from opts. NULL with a message in err on a bad option. */
struct tm_client *tm_client_new(const struct tm_client_opts *opts, char *err, size_t errlen);
void tm_client_free(struct tm_client *tc);

/* A result before any call: no outcome fields, no Retry-After (-1), rooms and participants -1. */
void tm_result_init(struct tm_result *res);

/* Makes one attempt, never repeats it (libcurl's silent re-send on a dead reused connection is
 * ruled out for all but query and update by a fresh, unshared connection). Fills res whatever
 * happens. Returns 0, or -1 when req is invalid (res->outcome TM_NOT_SENT, res->error says). */
int tm_client_call(struct tm_client *tc, const struct tm_request *req, struct tm_result *res);

/* tm_client_call in two halves, for a caller that drives the transfer itself (tm_loop.h):
 * tm_client_begin builds the request into tc (req may go once it returns) and sets up its
 * handle — 0, or -1 as tm_client_call (res filled, nothing to run); the caller then runs
 * tm_client_handle(tc) to its end, and tm_client_end classifies the transfer that ended with
 * rc after elapsed_ms and fills res. */
int tm_client_begin(struct tm_client *tc, const struct tm_request *req, struct tm_result *res);
CURL *tm_client_handle(struct tm_client *tc);
void tm_client_end(struct tm_client *tc, CURLcode rc, double elapsed_ms, struct tm_result *res);

/* Pure pieces, shared with callers that drive libcurl themselves. */

/* Writes {base_url}/as/wapi/service/{endpoint}?service_company_uid=…&… into out, every value
 * percent-encoded (RFC 3986 unreserved characters kept). redact: service_company_uid=REDACTED.
 * Returns 0, or -1 (missing parameter, bad base URL, or longer than outlen) with err set. */
int tm_build_url(const char *base_url, const char *partner_id, const struct tm_request *req,
		 bool redact, char *out, size_t outlen, char *err, size_t errlen);

/* The request's URL as an audit trail keeps it (service_company_uid=REDACTED), malloc'd to its
 * length: NULL when req is invalid (as tm_build_url) or out of memory. */
char *tm_audit_url(const char *base_url, const struct tm_request *req);

/* Transport and HTTP level: TM_NOT_SENT / TM_AMBIGUOUS / TM_TRANSIENT from the curl result,
 * status and whether any request byte went out; TM_OK means "a 2xx answer arrived whole: its
 * body decides". Never TM_FAILED: only a body can say that (tm_result_from_response). */
enum tm_outcome tm_classify(CURLcode rc, long http_status, bool request_sent);

/* Retry-After (delay-seconds or HTTP-date, relative to now) in ms, clamped to [0, max_ms];
 * -1 when value is NULL or unparseable. */
long tm_retry_after_ms(const char *value, time_t now, long max_ms);

/* Classifies a finished transfer and fills res (all but elapsed_ms, which the caller sets).
 * partner_id, when not NULL, is scrubbed from every text copied into res. */
void tm_result_from_response(struct tm_result *res, enum tm_endpoint ep,
			     const struct tm_response *resp, size_t max_body,
			     long retry_after_max_ms, const char *partner_id);

/* Whether TM itself answered the call (its XML, or any 2xx): TM is up, whatever became of the
 * call. False for no answer and for HTTP errors without a TM body, which is what TM being down
 * (or a load balancer without a backend) looks like. */
bool tm_result_tm_answered(const struct tm_result *res);

const char *tm_endpoint_name(enum tm_endpoint ep);    /* "create_account", ... */
const char *tm_outcome_name(enum tm_outcome outcome); /* "ok", "failed", "not_sent", ... */
/* update, delete and query may be repeated; create and remote_schedule may not. */
bool tm_endpoint_idempotent(enum tm_endpoint ep);
/* Whether a call may go on a kept-alive connection. libcurl silently sends a request again when
 * the reused connection it went on dies before answering, so only the calls whose repeat gives
 * the answer of the first may: query and update. A repeated delete answers "no such account"
 * and would hide that the first one acted. */
bool tm_endpoint_reuses_connection(enum tm_endpoint ep);

#endif
