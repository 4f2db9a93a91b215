/* simserver: tmsim's HTTP side on libmicrohttpd — the listening socket, a few polling threads (a
 * held answer suspends its connection instead of a thread, so latency never serialises calls),
 * the route table, and the one function that turns a handler's reply into an answer, a held
 * answer or a dropped connection. */
#ifndef TMSIM_SIMSERVER_H
#define TMSIM_SIMSERVER_H

#include <jansson.h>
#include <stddef.h>

#include "query.h"
#include "state.h"

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

/* Binds and listens on "host:port" (port 0: any free one); returns the socket and the port. */
int simserver_listen(const char *hostport, int *port, char *err, size_t errlen);

struct simserver;

/* Serves on listen_fd (taken over). max_conns: connection limit; idle_s: idle timeout. */
struct simserver *simserver_start(struct sim_state *st, int listen_fd, unsigned max_conns,
				  unsigned idle_s, char *err, size_t errlen);
/* Sends the held answers at once, stops accepting, closes connections and joins the threads. */
void simserver_stop(struct simserver *srv);

#endif
