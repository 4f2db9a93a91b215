/* request: the state of one HTTP request from its first byte to its completion — its caller's
 * address, its route, the TM parameters read from the query string or a form body (each with a
 * ceiling), and the result recorded in the metrics. Created and freed by server.c; read by the
 * handlers. */
#ifndef CALLBACK_REQUEST_H
#define CALLBACK_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "buf.h"
#include "cb.h"

enum result {
	RESULT_NONE, /* never answered: the client went away first */
	RESULT_OK,
	RESULT_FAILED,	    /* TM-protocol FAILED: bad credentials, partner id or session */
	RESULT_THROTTLED,   /* FAILED by the failure throttle, no hash run */
	RESULT_BAD_REQUEST, /* FAILED for a missing or over-long parameter, or HTTP 400 */
	RESULT_UNAVAILABLE, /* database unreachable: FAILED "temporarily unavailable" or 503 */
	RESULT_FORBIDDEN,   /* caller outside TMPROV_CALLBACK_ALLOW */
	RESULT_NOT_FOUND,
	RESULT_METHOD,
	RESULT_TOO_LARGE,
	RESULT_UNSUPPORTED, /* a body that is not a form */
	RESULT_ERROR,	    /* our own failure (out of memory) */
	RESULT_COUNT
};

const char *result_name(enum result r);
/* result_name of the i-th result, NULL past the last: every result label of the metrics. */
const char *result_label(size_t i);

/* The parameters TM sends (Section 6; Section 11 may carry the partner id too). */
enum param { PARAM_EMAIL, PARAM_PASSWORD, PARAM_PARTNER, PARAM_COUNT };

struct route;

struct request {
	const struct cb *cb;
	struct MHD_Connection *conn;
	const struct route *route; /* NULL: no route matched */
	const char *allow;	   /* the Allow header of a 405 answer (the route's methods) */
	struct MHD_PostProcessor *pp;
	struct buf form[PARAM_COUNT]; /* values from a form body; each capped */
	bool in_form[PARAM_COUNT];
	bool too_long;	 /* a parameter exceeded its ceiling */
	bool bad_form;	 /* the body could not be parsed as a form */
	size_t body_len; /* bytes of body received */
	enum result result;
	double started;			/* monotonic seconds */
	struct sockaddr_storage client; /* the caller: the peer, or whom a trusted proxy named */
	char client_text[INET6_ADDRSTRLEN];
};

/* NULL when out of memory. */
struct request *request_new(const struct cb *cb, struct MHD_Connection *conn);
/* Wipes the parameters (one is a credential) and frees; NULL is a no-op. */
void request_free(struct request *rq);

/* Starts reading a form body (application/x-www-form-urlencoded or multipart/form-data).
 * 0, or -1 when the body has another type. */
int request_form_begin(struct request *rq);
/* Feeds body bytes: 0, or -1 once the body exceeds cb->max_body. A malformed body sets
 * bad_form and the rest is skipped. */
int request_form_feed(struct request *rq, const char *data, size_t len);

/* Decides rq->client (and its text): the peer's address, unless the peer is one of
 * cb->trusted and sends X-Forwarded-For, whose right-most untrusted address is then the caller
 * (netaddr_forwarded_client; all its header lines read as one list). 0, or -1 when the caller is
 * unknown (no peer address, an unreadable or over-long header): to be refused. */
int request_client_resolve(struct request *rq);

/* A parameter's value: the form body's if it has it, else the query string's; NULL if absent.
 * Borrowed until the request completes. */
const char *request_param(struct request *rq, enum param p);

#endif
