/* server: libmicrohttpd glue. The access handler admits or refuses a request on its first call
 * (allow-list first, so a refused caller costs no database work; the caller is the peer, or the
 * address a trusted proxy forwarded), collects the body on the next ones and calls the route's
 * handler on the last; everything answered goes through answer.c. */
#include "server.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "answer.h"
#include "log.h"
#include "request.h"
#include "routes.h"
#include "telemetry.h"
#include "clock.h"

struct server {
	const struct cb *cb;
	struct MHD_Daemon *daemon;
	int port;
	bool quiesced;
	atomic_uint in_flight;
	atomic_int outside; /* open connections from outside the allow-list */
	int max_outside;
};

/* A peer on the allow-list, or a trusted proxy (which speaks for callers on the allow-list):
 * not counted as outside. Which caller a request is from is decided per request (server_begin). */
static int
server_inside(const struct server *s, const struct sockaddr *peer)
{
	return netaddr_allow_match(&s->cb->allow, peer) ||
	       netaddr_allow_match(&s->cb->trusted, peer);
}

static int
server_allowed(const struct server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return ci != NULL && ci->client_addr != NULL && server_inside(s, ci->client_addr);
}

/* libmicrohttpd's accept policy. An address outside the allow-list gets its 403 only while few
 * such connections are open: the allow check in server_begin comes after the headers, so a slow
 * client from anywhere would otherwise hold a connection slot for the whole timeout, and a
 * thousand of them hold every slot TM's server needs. The count is read here and kept by
 * server_notify; parallel accepts may overshoot the cap by the pool's thread count. */
static enum MHD_Result
server_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct server *s = cls;

	(void)addrlen;
	if (server_inside(s, addr))
		return MHD_YES;
	return atomic_load(&s->outside) < s->max_outside ? MHD_YES : MHD_NO;
}

/* Counts the open connections from outside the allow-list (their socket context marks them). */
static void
server_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode code)
{
	struct server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED && !server_allowed(s, conn)) {
		atomic_fetch_add(&s->outside, 1);
		*socket_context = &s->outside;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context == &s->outside) {
		atomic_fetch_sub(&s->outside, 1);
		*socket_context = NULL;
	}
}

/* A POST: refuses a declared length over the cap before reading any of it, and starts the form
 * parser when there is a body. A POST without Content-Type carries its parameters in the query
 * string (the body, if any, is counted against the cap and ignored). */
static enum MHD_Result
server_begin_body(struct request *rq)
{
	const char *len =
	    MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *type =
	    MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (len != NULL && strtoull(len, NULL, 10) > rq->cb->max_body)
		return answer_status(rq, MHD_HTTP_CONTENT_TOO_LARGE, RESULT_TOO_LARGE);
	if (type != NULL && request_form_begin(rq) != 0)
		return answer_status(rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, RESULT_UNSUPPORTED);
	return MHD_YES;
}

/* First call for a request: headers are in, no body yet. */
static enum MHD_Result
server_begin(struct server *s, struct MHD_Connection *conn, const char *url, const char *method,
	     void **con_cls)
{
	struct request *rq = request_new(s->cb, conn);
	const char *tail;

	if (rq == NULL)
		return MHD_NO;
	*con_cls = rq; /* the completion callback frees it */
	atomic_fetch_add(&s->in_flight, 1);
	rq->route = routes_find(url, &tail);
	if (request_client_resolve(rq) != 0 ||
	    !netaddr_allow_match(&s->cb->allow, (const struct sockaddr *)&rq->client))
		return answer_status(rq, MHD_HTTP_FORBIDDEN, RESULT_FORBIDDEN);
	if (rq->route == NULL)
		return answer_status(rq, MHD_HTTP_NOT_FOUND, RESULT_NOT_FOUND);
	if (!routes_allows(rq->route, method)) {
		rq->allow = rq->route->allow;
		return answer_status(rq, MHD_HTTP_METHOD_NOT_ALLOWED, RESULT_METHOD);
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return server_begin_body(rq);
	return MHD_YES;
}

static enum MHD_Result
server_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct request *rq = *con_cls;
	const char *tail;

	(void)version;
	if (rq == NULL)
		return server_begin(s, conn, url, method, con_cls);
	if (*upload_size != 0) {
		size_t n = *upload_size;

		*upload_size = 0;
		/* A chunked body that outgrows the cap cannot be answered any more (the response
		 * must wait for the whole request): the connection is closed instead. */
		return request_form_feed(rq, upload, n) == 0 ? MHD_YES : MHD_NO;
	}
	if (rq->result != RESULT_NONE)
		return MHD_YES;
	rq->route = routes_find(url, &tail);
	return rq->route->handle(rq, tail);
}

static void
server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct request *rq = *con_cls;
	double secs;

	(void)conn;
	(void)toe;
	if (rq == NULL)
		return;
	secs = clock_now_s() - rq->started;
	/* Neither the URL (it may hold a session token) nor any parameter is logged. */
	log_debug("request route=%s result=%s ms=%.1f",
		  rq->route ? rq->route->name : ROUTES_UNMATCHED, result_name(rq->result),
		  secs * 1000.0);
	telemetry_request(s->cb->metrics, rq->route ? rq->route->name : ROUTES_UNMATCHED,
			  result_name(rq->result), secs);
	request_free(rq);
	*con_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
}

/* libmicrohttpd's own error messages, into our JSON log. */
static void
server_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}

/* TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1), GnuTLS's NORMAL choice of ciphers. */
#define SERVER_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* The options of HTTPS, or none: filled into opts (4 items) for MHD_OPTION_ARRAY. */
static unsigned
server_tls_options(const struct server_opts *o, struct MHD_OptionItem *opts)
{
	unsigned n = 0;

	if (o->tls_cert != NULL) {
		opts[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert};
		opts[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						    (void *)SERVER_TLS_PRIORITIES};
	}
	opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return o->tls_cert != NULL ? MHD_USE_TLS : 0;
}

struct server *
server_start(const struct cb *cb, const struct server_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct server *s;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem tls[4];
	unsigned tls_flag = server_tls_options(o, tls);

	if (netaddr_parse(o->listen, &ss, &sslen, err, errlen) != 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cb = cb;
	atomic_init(&s->in_flight, 0);
	atomic_init(&s->outside, 0);
	s->max_outside = (int)o->max_outside;
	/* Every limit is set explicitly: libmicrohttpd's defaults have no timeout and no per-IP
	 * limit. ITC is what MHD_quiesce_daemon needs; the logger must come first to catch all. */
	s->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
		tls_flag | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, server_accept, s, server_access, s, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, o->threads,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    o->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->memory_limit, MHD_OPTION_NOTIFY_COMPLETED,
	    server_completed, s, MHD_OPTION_NOTIFY_CONNECTION, server_notify, s, MHD_OPTION_ARRAY,
	    tls, MHD_OPTION_END);
	if (s->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s", o->listen);
		free(s);
		return NULL;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : -1;
	return s;
}

int
server_port(const struct server *s)
{
	return s->port;
}

void
server_quiesce(struct server *s)
{
	int fd;

	if (s->quiesced || (fd = MHD_quiesce_daemon(s->daemon)) < 0)
		return;
	s->quiesced = true;
	/* Closed at once, so that new connections are refused (and a balancer moves on) instead
	 * of waiting in the backlog of a socket nobody accepts from any more. */
	close(fd);
}

unsigned
server_in_flight(struct server *s)
{
	return atomic_load(&s->in_flight);
}

void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
