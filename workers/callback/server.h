/* server: the libmicrohttpd daemon of tmprov-callback — HTTP or HTTPS, thread pool, connection
 * limits and timeouts, the caller allow-list, form bodies and their cap, the request lifecycle
 * and its metrics — handing each admitted request to its route's handler. */
#ifndef CALLBACK_SERVER_H
#define CALLBACK_SERVER_H

#include <stddef.h>

#include "cb.h"

struct server_opts {
	const char *listen;	  /* host:port; port 0 picks a free one */
	unsigned threads;	  /* pool threads, each with its own database connection */
	unsigned max_connections; /* in total */
	unsigned max_per_ip;	  /* from one address */
	unsigned max_outside;	  /* from addresses outside the allow-list, in total */
	unsigned timeout_s;	  /* an idle or slow connection is closed after this */
	size_t memory_limit;	  /* per connection: bounds request line + headers */
	const char *tls_cert;	  /* PEM text (cbtls); NULL: plain HTTP */
	const char *tls_key;	  /* its key's; must outlive the server */
};

struct server;

/* cb is borrowed and must outlive the server. NULL with err set when it cannot listen. */
struct server *server_start(const struct cb *cb, const struct server_opts *o, char *err,
			    size_t errlen);
int server_port(const struct server *s);
/* Stops accepting connections; requests in flight (and on open connections) go on. */
void server_quiesce(struct server *s);
/* Requests between their first byte and their completion. */
unsigned server_in_flight(struct server *s);
/* Closes every connection, joins the pool threads and frees; NULL is a no-op. */
void server_stop(struct server *s);

#endif
