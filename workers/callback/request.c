/* request: per-request state. Form bodies go through libmicrohttpd's post processor, which
 * hands a value over in pieces; each piece is appended to a capped buffer. */
#include "request.h"
#include "clock.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Names as TM sends them, and the longest value we accept: an email is at most 320 bytes
 * (RFC 5321 limits), credentials are hex digests (128 for SHA-512) with room for other agreed
 * schemes, partner ids are short. */
static const struct {
	const char *name;
	size_t max;
} request_params[PARAM_COUNT] = {
    [PARAM_EMAIL] = {"email", 320},
    [PARAM_PASSWORD] = {"password", 1024},
    [PARAM_PARTNER] = {"service_company_uid", 256},
};

/* The X-Forwarded-For lines of one request joined; a proxy chain of a few hops needs far less
 * (and the header block itself is capped by TMPROV_CALLBACK_MAX_HEADER_BYTES). */
#define REQUEST_XFF_MAX 4096

/* libmicrohttpd's post processor buffer; it must be at least 256 bytes. */
#define REQUEST_PP_BUFFER 1024

static const char *const result_names[RESULT_COUNT] = {
    [RESULT_NONE] = "aborted",
    [RESULT_OK] = "ok",
    [RESULT_FAILED] = "failed",
    [RESULT_THROTTLED] = "throttled",
    [RESULT_BAD_REQUEST] = "bad_request",
    [RESULT_UNAVAILABLE] = "unavailable",
    [RESULT_FORBIDDEN] = "forbidden",
    [RESULT_NOT_FOUND] = "not_found",
    [RESULT_METHOD] = "method_not_allowed",
    [RESULT_TOO_LARGE] = "too_large",
    [RESULT_UNSUPPORTED] = "unsupported_media_type",
    [RESULT_ERROR] = "error",
};

const char *
result_name(enum result r)
{
	if ((size_t)r >= sizeof(result_names) / sizeof(result_names[0]))
		return "error";
	return result_names[r];
}

const char *
result_label(size_t i)
{
	return i < RESULT_COUNT ? result_name((enum result)i) : NULL;
}

struct request *
request_new(const struct cb *cb, struct MHD_Connection *conn)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (rq == NULL)
		return NULL;
	rq->cb = cb;
	rq->conn = conn;
	rq->started = clock_now_s();
	for (int i = 0; i < PARAM_COUNT; i++)
		buf_init(&rq->form[i], request_params[i].max);
	return rq;
}

void
request_free(struct request *rq)
{
	if (rq == NULL)
		return;
	if (rq->pp != NULL)
		MHD_destroy_post_processor(rq->pp);
	for (int i = 0; i < PARAM_COUNT; i++) {
		if (rq->form[i].data != NULL)
			sodium_memzero(rq->form[i].data, rq->form[i].alloc);
		buf_free(&rq->form[i]);
	}
	free(rq);
}

static int
request_param_index(const char *key)
{
	for (int i = 0; i < PARAM_COUNT; i++)
		if (strcmp(key, request_params[i].name) == 0)
			return i;
	return -1;
}

/* libmicrohttpd's callback for each piece of a form value; off == 0 starts a value, so a
 * parameter given twice keeps its last value. Unknown fields are skipped. */
static enum MHD_Result
request_form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
		   const char *content_type, const char *transfer_encoding, const char *data,
		   uint64_t off, size_t size)
{
	struct request *rq = cls;
	int i = request_param_index(key);

	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	if (i < 0)
		return MHD_YES;
	if (off == 0)
		buf_reset(&rq->form[i]);
	rq->in_form[i] = true;
	/* buf_append of nothing leaves data NULL; an empty value must still read as "". */
	/* Over the ceiling: remembered and answered as a bad request once the body is in. */
	if (buf_append(&rq->form[i], data ? data : "", size) != BUF_OK)
		rq->too_long = true;
	return MHD_YES;
}

int
request_form_begin(struct request *rq)
{
	rq->pp = MHD_create_post_processor(rq->conn, REQUEST_PP_BUFFER, request_form_field, rq);
	return rq->pp != NULL ? 0 : -1;
}

int
request_form_feed(struct request *rq, const char *data, size_t len)
{
	rq->body_len += len;
	if (rq->body_len > rq->cb->max_body)
		return -1;
	if (rq->pp != NULL && !rq->bad_form && MHD_post_process(rq->pp, data, len) != MHD_YES)
		rq->bad_form = true;
	return 0;
}

const char *
request_param(struct request *rq, enum param p)
{
	const char *v;

	if (rq->in_form[p])
		return rq->form[p].data ? rq->form[p].data : "";
	v = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, request_params[p].name);
	if (v != NULL && strlen(v) > request_params[p].max) {
		rq->too_long = true;
		return NULL;
	}
	return v;
}

/* The X-Forwarded-For lines of one request, joined with ',' in order. */
struct request_xff {
	struct buf list;
	bool lost; /* over REQUEST_XFF_MAX (or out of memory): the caller is unknown */
};

/* libmicrohttpd's header iterator: appends each X-Forwarded-For line to the list. */
static enum MHD_Result
request_xff_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct request_xff *x = cls;

	(void)kind;
	if (x->lost || strcasecmp(key, "X-Forwarded-For") != 0)
		return MHD_YES;
	if ((x->list.len > 0 && buf_append(&x->list, ",", 1) != BUF_OK) ||
	    buf_append(&x->list, value ? value : "", value ? strlen(value) : 0) != BUF_OK)
		x->lost = true;
	return MHD_YES;
}

int
request_client_resolve(struct request *rq)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *peer = ci != NULL ? ci->client_addr : NULL;
	struct request_xff x = {.lost = false};
	int rc = 0;

	snprintf(rq->client_text, sizeof(rq->client_text), "?");
	if (peer == NULL || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return -1;
	memcpy(&rq->client, peer,
	       peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6));
	if (rq->cb->trusted.n > 0 && netaddr_allow_match(&rq->cb->trusted, peer)) {
		buf_init(&x.list, REQUEST_XFF_MAX);
		MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, request_xff_collect, &x);
		if (x.lost ||
		    (x.list.len > 0 &&
		     netaddr_forwarded_client(&rq->cb->trusted, x.list.data, &rq->client) < 0))
			rc = -1;
		buf_free(&x.list);
	}
	if (rc == 0)
		netaddr_text((const struct sockaddr *)&rq->client, rq->client_text,
			     sizeof(rq->client_text));
	return rc;
}
