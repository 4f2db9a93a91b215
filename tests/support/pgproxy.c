/* pgproxy: a PostgreSQL wire-protocol proxy on loopback for fault tests — forwards every
 * connection to the real server, and on request loses the acknowledgement of one commit. */
#include "pgproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { PROXY_CONNS = 64, STMT_MAX = 64, MSG_MAX = 64 * 1024 * 1024 };
/* The protocol 3.0 StartupMessage's version code; anything else before it (SSLRequest,
 * GSSENCRequest, CancelRequest) is passed on as it came. */
#define PROTOCOL_3_0 196608u

enum doom { DOOM_NONE, DOOM_WAIT_SYNC, DOOM_WAIT_READY };

struct bytes {
	char *p;
	size_t len, cap;
};

struct conn {
	int cfd, sfd; /* -1: slot free */
	bool started; /* the client's StartupMessage has gone through */
	enum doom doom;
	struct bytes cin, sin; /* read, not yet forwarded: part of a message */
};

struct pgproxy {
	int lfd, port, wake[2];
	struct sockaddr_in up;
	pthread_t thread;
	pthread_mutex_t lock;
	char armed[STMT_MAX]; /* "": not armed */
	int fired;
	struct conn c[PROXY_CONNS];
};

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){0};
}

static int
bytes_add(struct bytes *b, const char *src, size_t n)
{
	char *p;

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > MSG_MAX || (p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

static void
bytes_drop(struct bytes *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint32_t
be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void
conn_close(struct conn *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->sfd >= 0)
		close(c->sfd);
	bytes_free(&c->cin);
	bytes_free(&c->sin);
	*c = (struct conn){.cfd = -1, .sfd = -1};
}

/* Whether the Bind message body (portal name, then statement name) names stmt. */
static bool
bind_names(const char *body, size_t len, const char *stmt)
{
	const char *portal_end = memchr(body, '\0', len);
	size_t rest;

	if (portal_end == NULL)
		return false;
	rest = len - (size_t)(portal_end + 1 - body);
	return strlen(stmt) < rest && memcmp(portal_end + 1, stmt, strlen(stmt) + 1) == 0;
}

/* One whole client message at m[0..n): looks at it, forwards it. -1: close the connection. */
static int
client_message(struct pgproxy *p, struct conn *c, const char *m, size_t n)
{
	if (!c->started) {
		c->started = be32(m + 4) == PROTOCOL_3_0;
		return write_all(c->sfd, m, n);
	}
	pthread_mutex_lock(&p->lock);
	if (m[0] == 'B' && p->armed[0] != '\0' && c->doom == DOOM_NONE &&
	    bind_names(m + 5, n - 5, p->armed)) {
		c->doom = DOOM_WAIT_SYNC;
		p->armed[0] = '\0';
	}
	pthread_mutex_unlock(&p->lock);
	if (write_all(c->sfd, m, n) != 0)
		return -1;
	if (m[0] == 'S' && c->doom == DOOM_WAIT_SYNC)
		c->doom = DOOM_WAIT_READY;
	return 0;
}

/* One whole server message. 1: the commit landed and its acknowledgement is now lost. */
static int
server_message(struct pgproxy *p, struct conn *c, const char *m, size_t n)
{
	if (c->doom == DOOM_NONE)
		return write_all(c->cfd, m, n);
	if (c->doom == DOOM_WAIT_READY && m[0] == 'Z') {
		pthread_mutex_lock(&p->lock);
		p->fired++;
		pthread_mutex_unlock(&p->lock);
		return 1;
	}
	return 0; /* withheld */
}

/* Length of the whole message at the start of b (0: not all there yet). */
static size_t
message_len(const struct bytes *b, bool typed)
{
	size_t head = typed ? 5 : 4, len;

	if (b->len < head)
		return 0;
	len = be32(b->p + head - 4) + (typed ? 1 : 0);
	if (len < head)
		return (size_t)-1;
	return b->len >= len ? len : 0;
}

/* Reads what fd has into b and hands each whole message on. -1 or 1: close the pair. */
static int
pump(struct pgproxy *p, struct conn *c, bool from_client)
{
	struct bytes *b = from_client ? &c->cin : &c->sin;
	char chunk[16384];
	ssize_t r = read(from_client ? c->cfd : c->sfd, chunk, sizeof(chunk));
	size_t n;
	int rc;

	if (r <= 0 || bytes_add(b, chunk, (size_t)r) != 0)
		return -1;
	while ((n = message_len(b, from_client ? c->started : true)) != 0) {
		if (n == (size_t)-1)
			return -1;
		rc = from_client ? client_message(p, c, b->p, n) : server_message(p, c, b->p, n);
		if (rc != 0)
			return rc;
		bytes_drop(b, n);
	}
	return 0;
}

static void
accept_one(struct pgproxy *p)
{
	int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC), sfd;
	size_t i;

	if (cfd < 0)
		return;
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (i = 0; i < PROXY_CONNS && p->c[i].cfd >= 0; i++)
		;
	if (sfd < 0 || i == PROXY_CONNS ||
	    connect(sfd, (struct sockaddr *)&p->up, sizeof(p->up)) != 0) {
		close(cfd);
		if (sfd >= 0)
			close(sfd);
		return;
	}
	p->c[i] = (struct conn){.cfd = cfd, .sfd = sfd};
}

static void *
proxy_thread(void *arg)
{
	struct pgproxy *p = arg;
	struct pollfd fds[2 + 2 * PROXY_CONNS];
	size_t idx[2 * PROXY_CONNS];

	for (;;) {
		nfds_t n = 2;

		fds[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		fds[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
		for (size_t i = 0; i < PROXY_CONNS; i++) {
			if (p->c[i].cfd < 0)
				continue;
			idx[n - 2] = i;
			fds[n++] = (struct pollfd){.fd = p->c[i].cfd, .events = POLLIN};
			idx[n - 2] = i;
			fds[n++] = (struct pollfd){.fd = p->c[i].sfd, .events = POLLIN};
		}
		if (poll(fds, n, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents != 0)
			break;
		if (fds[1].revents & POLLIN)
			accept_one(p);
		for (nfds_t k = 2; k < n; k++) {
			struct conn *c = &p->c[idx[k - 2]];

			if (fds[k].revents == 0 || c->cfd < 0)
				continue;
			if (pump(p, c, fds[k].fd == c->cfd) != 0)
				conn_close(c);
		}
	}
	return NULL;
}

int
pgproxy_start(struct pgproxy **out, const char *host, const char *port, char *err, size_t errlen)
{
	struct pgproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	*out = NULL;
	if (p == NULL) {
		snprintf(err, errlen, "pgproxy: out of memory");
		return -1;
	}
	for (size_t i = 0; i < PROXY_CONNS; i++)
		p->c[i] = (struct conn){.cfd = -1, .sfd = -1};
	p->lfd = p->wake[0] = p->wake[1] = -1;
	p->up =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, host, &p->up.sin_addr) != 1) {
		snprintf(err, errlen, "pgproxy: %s is not an IPv4 address", host);
		goto fail;
	}
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(p->lfd, 64) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    pipe(p->wake) != 0) {
		snprintf(err, errlen, "pgproxy: %s", strerror(errno));
		goto fail;
	}
	p->port = ntohs(a.sin_port);
	pthread_mutex_init(&p->lock, NULL);
	if (pthread_create(&p->thread, NULL, proxy_thread, p) != 0) {
		snprintf(err, errlen, "pgproxy: cannot start its thread");
		pthread_mutex_destroy(&p->lock);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	free(p);
	return -1;
}

int
pgproxy_port(const struct pgproxy *p)
{
	return p->port;
}

int
pgproxy_conninfo(const struct pgproxy *p, const char *conninfo, char *out, size_t outlen)
{
	/* In a key=value string the last value of a key wins. */
	int n =
	    snprintf(out, outlen, "%s host=127.0.0.1 port=%d sslmode=disable gssencmode=disable",
		     conninfo, p->port);

	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

void
pgproxy_arm(struct pgproxy *p, const char *stmt)
{
	pthread_mutex_lock(&p->lock);
	snprintf(p->armed, sizeof(p->armed), "%s", stmt);
	pthread_mutex_unlock(&p->lock);
}

int
pgproxy_fired(struct pgproxy *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->fired;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
pgproxy_free(struct pgproxy *p)
{
	if (p == NULL)
		return;
	if (write(p->wake[1], "x", 1) != 1)
		fprintf(stderr, "pgproxy: cannot wake its thread\n");
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < PROXY_CONNS; i++)
		if (p->c[i].cfd >= 0)
			conn_close(&p->c[i]);
	close(p->lfd);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
