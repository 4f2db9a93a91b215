/* reply: what a tmsim handler wants sent — status, content type, body, Retry-After, a delay or a
 * dropped connection — and the helpers that fill it; simserver turns it into an answer. */
#ifndef TMSIM_REPLY_H
#define TMSIM_REPLY_H

#include <stddef.h>

#include <jansson.h>

/* What a handler wants sent. */
struct reply {
	int status;
	const char *content_type; /* static string */
	char *body;		  /* malloc'd, owned by the reply */
	size_t len;
	long retry_after; /* seconds for a Retry-After header, -1: none */
	long delay_ms;	  /* how long to hold the answer */
	int drop;	  /* after the delay, close the connection without answering */
};

/* Takes ownership of body (malloc'd). */
void reply_set(struct reply *rep, int status, const char *content_type, char *body, size_t len);
void reply_text(struct reply *rep, int status, const char *content_type, const char *text);
/* Serialises doc (and drops the reference); call it under the lock if doc shares state. */
void reply_json(struct reply *rep, int status, json_t *doc);
/* The one error answer of the control API: {"error": message}. */
void reply_error(struct reply *rep, int status, const char *message);

#endif
