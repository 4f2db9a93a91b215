/* simserver: libmicrohttpd set-up, routing and answering. Each answer is built from one buffer so
 * that headers and body leave in one write, which keeps keep-alive calls clear of Nagle and
 * delayed-ACK stalls. A held answer suspends its connection until the timer (delay.h) resumes
 * it, so a few polling threads serve every connection. */
#include "simserver.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "delay.h"
#include "log.h"
#include "reply.h"
#include "wapi.h"

#define LISTEN_BACKLOG 1024
#define THREAD_STACK   (256 * 1024)
/* Requests are GETs whose parameters fit a URL; MHD answers 414/431 beyond this. */
#define CONNECTION_MEMORY (64 * 1024)

struct simserver {
	struct MHD_Daemon *daemon;
	struct sim_state *st;
	struct delay *delay;
};

/* One request across libmicrohttpd's calls of on_request. */
struct req {
	struct reply rep;
	bool held; /* the reply is made and the connection was suspended for rep.delay_ms */
};

typedef void (*route_fn)(struct sim_state *st, int arg, const struct query *q, struct reply *rep);

static const struct route {
	const char *path;
	route_fn fn;
	int arg;
} routes[] = {
    {"/as/wapi/service/create_account", wapi_handle, EP_CREATE_ACCOUNT},
    {"/as/wapi/service/update_account", wapi_handle, EP_UPDATE_ACCOUNT},
    {"/as/wapi/service/delete_account", wapi_handle, EP_DELETE_ACCOUNT},
    {"/as/wapi/service/query_account", wapi_handle, EP_QUERY_ACCOUNT},
    {"/as/wapi/service/remote_schedule", wapi_handle, EP_REMOTE_SCHEDULE},
    {"/healthz", control_healthz, 0},
    {"/_sim/faults", control_faults, 0},
    {"/_sim/calls", control_calls, 0},
    {"/_sim/stats", control_stats, 0},
    {"/_sim/accounts", control_accounts, 0},
    {"/_sim/edit", control_edit, 0},
    {"/_sim/reset", control_reset, 0},
    {"/_sim/mx", control_mx, 0},
};

int
simserver_listen(const char *hostport, int *port, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	const char *colon = strrchr(hostport, ':');
	char host[256];
	int fd = -1, one = 1, rc;
	size_t hlen;

	if (colon == NULL || (hlen = (size_t)(colon - hostport)) >= sizeof(host)) {
		snprintf(err, errlen, "\"%s\" is not host:port", hostport);
		return -1;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') { /* [v6]:port */
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		snprintf(err, errlen, "listen on %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						  : ((struct sockaddr_in *)&bound)->sin_port);
out:
	freeaddrinfo(ai);
	return fd;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_warn("libmicrohttpd: %s", msg);
}

static enum MHD_Result
collect_param(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
	      const char *value, size_t value_size)
{
	(void)kind;
	(void)key_size;
	query_add(cls, key, value, value_size);
	return MHD_YES;
}

static const struct route *
route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

/* Sends rep, or for rep->drop closes the connection. The body goes to libmicrohttpd; what is
 * left is freed when the request ends (on_completed). */
static enum MHD_Result
answer(struct MHD_Connection *conn, struct reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;
	char num[24];

	if (rep->drop)
		return MHD_NO; /* libmicrohttpd closes the connection without an answer */
	resp = MHD_create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	rep->body = NULL;
	if (rep->content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
	if (rep->retry_after >= 0) {
		snprintf(num, sizeof(num), "%ld", rep->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (rep->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	ok = MHD_queue_response(conn, (unsigned)rep->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* "address:port" ("[v6]:port") of the client of conn, for the call log; NULL when unknown. */
static const char *
peer_name(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t len;

	if (ci == NULL || ci->client_addr == NULL)
		return NULL;
	len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return NULL;
	snprintf(out, outlen, ci->client_addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		 serv);
	return out;
}

/* The reply of a request, from its route. */
static void
route_reply(struct simserver *srv, struct MHD_Connection *conn, const char *url, const char *method,
	    struct reply *rep)
{
	const struct route *route = route_find(url);
	char peer[NI_MAXHOST + NI_MAXSERV + 4];
	struct query q;

	*rep = (struct reply){.status = 500, .retry_after = -1};
	if (route == NULL) {
		reply_text(rep, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		reply_text(rep, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n");
	} else {
		query_init(&q);
		MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_param, &q);
		q.peer = peer_name(conn, peer, sizeof(peer));
		q.agent =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
		route->fn(srv->st, route->arg, &q, rep);
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct simserver *srv = cls;
	struct req *r = *req_cls;

	(void)version;
	(void)upload_data;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		*req_cls = r;
		return r != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_size != 0) {
		*upload_size = 0; /* TM calls are GETs: a body is read and ignored, never stored */
		return MHD_YES;
	}
	if (r->held) /* resumed: its delay has passed */
		return answer(conn, &r->rep);
	route_reply(srv, conn, url, method, &r->rep);
	if (r->rep.delay_ms <= 0)
		return answer(conn, &r->rep);
	r->held = true;
	MHD_suspend_connection(conn);
	if (delay_add(srv->delay, conn, r->rep.delay_ms) != 0)
		log_warn("out of memory: an answer goes out without its delay");
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r != NULL) {
		free(r->rep.body);
		free(r);
	}
	*req_cls = NULL;
}

/* Polling threads: as many as the CPUs, within reason. */
static unsigned
server_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

struct simserver *
simserver_start(struct sim_state *st, int listen_fd, unsigned max_conns, unsigned idle_s, char *err,
		size_t errlen)
{
	struct simserver *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		close(listen_fd);
		return NULL;
	}
	srv->st = st;
	srv->delay = delay_start(err, errlen);
	if (srv->delay == NULL) {
		close(listen_fd);
		free(srv);
		return NULL;
	}
	/* The logger comes first so that libmicrohttpd's own messages are JSON lines too. */
	srv->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_THREAD_POOL_SIZE, server_threads(),
	    MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "libmicrohttpd did not start");
		close(listen_fd);
		delay_free(srv->delay);
		free(srv);
		return NULL;
	}
	return srv;
}

void
simserver_stop(struct simserver *srv)
{
	if (srv == NULL)
		return;
	/* Held answers go out now: a suspended connection must not outlive the daemon. */
	delay_release(srv->delay);
	MHD_stop_daemon(srv->daemon);
	delay_free(srv->delay);
	free(srv);
}
