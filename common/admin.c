/* admin: the health and metrics port every long-running program opens (TMPROV_ADMIN_LISTEN):
 * GET /healthz (alive: the main loop ticks), /readyz (dependencies reachable), /metrics
 * (Prometheus text: the program's registry and process_*). */
#include "admin.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "netaddr.h"
#include "procstat.h"

#define ADMIN_METRICS_MAX (4 << 20)

struct admin {
	struct MHD_Daemon *daemon;
	struct metrics *metrics;
	admin_ready_fn ready;
	void *arg;
	int port;
	atomic_long tick_ms;  /* the main loop's last admin_tick (clock_now_ms) */
	atomic_long stall_ms; /* 0: /healthz does not look at the ticks */
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body, size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
serve_metrics(struct admin *a, struct MHD_Connection *conn)
{
	struct buf out;
	enum MHD_Result rc;

	buf_init(&out, ADMIN_METRICS_MAX);
	if (metrics_render(a->metrics, &out) != 0 || procstat_render(&out) != 0) {
		buf_free(&out);
		return reply(conn, 500, "text/plain", "metrics too large\n", 18);
	}
	rc = reply(conn, 200, "text/plain; version=0.0.4", out.data ? out.data : "", out.len);
	buf_free(&out);
	return rc;
}

/* Alive while the main loop turns: a loop stuck in a call that does not return (a blocked
 * statement, a lock) fails the probe, and the supervisor restarts the program. */
static enum MHD_Result
serve_health(struct admin *a, struct MHD_Connection *conn)
{
	long stall = atomic_load(&a->stall_ms), since = clock_now_ms() - atomic_load(&a->tick_ms);
	char text[160];
	int n;

	if (stall <= 0 || since < stall)
		return reply(conn, 200, "text/plain", "ok\n", 3);
	n = snprintf(text, sizeof(text),
		     "unhealthy: main loop stalled: no turn for %ld ms (limit %ld ms)\n", since,
		     stall);
	return reply(conn, 503, "text/plain", text,
		     (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct admin *a = cls;
	char why[200] = "", text[256];

	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_size != 0 || strcmp(method, "GET") != 0)
		return reply(conn, 405, "text/plain", "GET only\n", 9);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(a, conn);
	if (strcmp(url, "/readyz") == 0) {
		if (a->ready == NULL || a->ready(a->arg, why, sizeof(why)))
			return reply(conn, 200, "text/plain", "ready\n", 6);
		int n = snprintf(text, sizeof(text), "not ready: %s\n", why);
		return reply(conn, 503, "text/plain", text,
			     (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
	}
	if (strcmp(url, "/metrics") == 0 && a->metrics != NULL)
		return serve_metrics(a, conn);
	return reply(conn, 404, "text/plain", "not found\n", 10);
}

struct admin *
admin_start(const char *listen, struct metrics *m, admin_ready_fn ready, void *arg, char *err,
	    size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct admin *a;
	const union MHD_DaemonInfo *info;

	if (netaddr_parse(listen, &ss, &sslen, err, errlen) != 0)
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->metrics = m;
	a->ready = ready;
	a->arg = arg;
	atomic_init(&a->tick_ms, clock_now_ms());
	atomic_init(&a->stall_ms, 0);
	/* One polling thread is plenty for scrapes; limits keep a misbehaving client harmless. */
	a->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
	if (a->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s", listen);
		free(a);
		return NULL;
	}
	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info ? info->port : -1;
	return a;
}

int
admin_port(const struct admin *a)
{
	return a->port;
}

void
admin_set_stall(struct admin *a, long stall_ms)
{
	atomic_store(&a->stall_ms, stall_ms);
}

void
admin_tick(struct admin *a)
{
	atomic_store(&a->tick_ms, clock_now_ms());
}

void
admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	MHD_stop_daemon(a->daemon);
	free(a);
}
