/* blackhole: network namespace, veth pair, NAT and DROP rules (ip, iptables), and the relay
 * thread (see blackhole.h). The path: a client in the test's namespace connects to the
 * namespace's address NS:port; the namespace rewrites the destination to the relay on the
 * host side of the veth pair (DNAT) and the source to its own address (MASQUERADE), so the
 * packets cross the namespace both ways and a DROP in its FORWARD chain black-holes them. */
#include "blackhole.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clirun.h"
#include "tprog.h"

#define RELAY_CONNS_MAX 256
#define RELAY_BUF	65536
#define NS_PORT		5432 /* what clients connect to inside the path */
#define CMD_MS		10000

struct blackhole {
	char ns[32], vh[16], vn[16], host_ip[32], ns_ip[32];
	const char *ip, *iptables;
	struct sockaddr_in target;
	int lfd, relay_port, made_ns;
	pthread_t acceptor;
	int acceptor_started;
	atomic_int stop;
	atomic_int live; /* relay threads running: b lives until they are all gone */
	pthread_mutex_t mu;
	int fds[RELAY_CONNS_MAX]; /* both sockets of every relayed connection, -1: free */
};

/* Runs prog with args (NULL-terminated); 0 when it exits 0, else -1 with its stderr in why. */
static int
run(const char *prog, const char *const *args, char *why, size_t whylen)
{
	const char *argv[24];
	struct clirun r;
	size_t n = 0;
	int rc;

	argv[n++] = prog;
	while (*args != NULL && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	clirun(&r, argv, NULL, CMD_MS);
	rc = r.status == 0 ? 0 : -1;
	if (rc && why != NULL)
		snprintf(why, whylen, "%s %s: status %d: %.200s", prog, argv[1], r.status, r.err);
	clirun_free(&r);
	return rc;
}

/* ip netns exec NS CMD...: the same, inside the namespace. */
static int
ns_run(struct blackhole *b, const char *const *cmd, char *why, size_t whylen)
{
	const char *args[24] = {"netns", "exec", b->ns};
	size_t n = 3;

	while (*cmd != NULL && n < 23)
		args[n++] = *cmd++;
	args[n] = NULL;
	return run(b->ip, args, why, whylen);
}

static void
track(struct blackhole *b, int fd, int add)
{
	pthread_mutex_lock(&b->mu);
	for (int i = 0; i < RELAY_CONNS_MAX; i++) {
		if (add ? b->fds[i] == -1 : b->fds[i] == fd) {
			b->fds[i] = add ? fd : -1;
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

struct pair {
	struct blackhole *b;
	int a, z;
};

/* Copies both ways until either side ends. */
static void *
pipe_thread(void *arg)
{
	struct pair *p = arg;
	struct pollfd pf[2] = {{.fd = p->a, .events = POLLIN}, {.fd = p->z, .events = POLLIN}};
	char *buf = malloc(RELAY_BUF);

	while (buf != NULL && !atomic_load(&p->b->stop) && poll(pf, 2, 500) >= 0) {
		int done = 0;

		for (int i = 0; i < 2 && !done; i++) {
			ssize_t n;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pf[i].fd, buf, RELAY_BUF);
			done = n <= 0 || write(pf[1 - i].fd, buf, (size_t)n) != n;
		}
		if (done)
			break;
	}
	free(buf);
	track(p->b, p->a, 0);
	track(p->b, p->z, 0);
	close(p->a);
	close(p->z);
	atomic_fetch_sub(&p->b->live, 1); /* the last use of b */
	free(p);
	return NULL;
}

/* The relay's client side stands for the server's end of the connection, so it keeps the TCP
 * settings every tmprov session asks the server for (common/db.c): a client lost in the black
 * hole is dropped, and its session with it, as the server would drop it. */
static void
server_side_keepalive(int fd)
{
	int on = 1, idle = 4, intvl = 2, cnt = 3;
	unsigned int user_timeout = 10000;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

static void *
accept_thread(void *arg)
{
	struct blackhole *b = arg;

	while (!atomic_load(&b->stop)) {
		/* Close-on-exec, both legs: a copy inherited by a process the test starts later
		 * (a worker, tmprov-callback) would keep the session open after the relay closes
		 * it, and with it the session's advisory lock. */
		int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC), s;
		struct pair *p;
		pthread_t t;

		if (c < 0)
			continue;
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		p = malloc(sizeof(*p));
		if (s < 0 || p == NULL ||
		    connect(s, (struct sockaddr *)&b->target, sizeof(b->target)) != 0) {
			close(c);
			if (s >= 0)
				close(s);
			free(p);
			continue;
		}
		*p = (struct pair){b, c, s};
		server_side_keepalive(c);
		track(b, c, 1);
		track(b, s, 1);
		atomic_fetch_add(&b->live, 1);
		if (pthread_create(&t, NULL, pipe_thread, p) != 0) {
			atomic_fetch_sub(&b->live, 1);
			track(b, c, 0);
			track(b, s, 0);
			close(c);
			close(s);
			free(p);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

/* The relay: listens on the host side of the veth pair. */
static int
relay_start(struct blackhole *b, char *why, size_t whylen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};

	inet_pton(AF_INET, b->host_ip, &sa.sin_addr);
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->lfd < 0 || bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(b->lfd, 64) != 0 || getsockname(b->lfd, (struct sockaddr *)&sa, &len) != 0) {
		snprintf(why, whylen, "relay on %s: %s", b->host_ip, strerror(errno));
		return -1;
	}
	/* accept wakes up now and then to see the stop flag. */
	setsockopt(b->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	b->relay_port = ntohs(sa.sin_port);
	if (pthread_create(&b->acceptor, NULL, accept_thread, b) != 0) {
		snprintf(why, whylen, "relay thread: %s", strerror(errno));
		return -1;
	}
	b->acceptor_started = 1;
	return 0;
}

/* Packets come in and leave by the same veth: the namespace must forward them. Its
 * net.ipv4.ip_forward is the one a process inside it sees, so a child enters it and writes. */
static int
ns_forward(struct blackhole *b, char *why, size_t whylen)
{
	char path[128];
	int status = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "/run/netns/%s", b->ns);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), out;

		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
			_exit(1);
		out = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY);
		_exit(out >= 0 && write(out, "1\n", 2) == 2 ? 0 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(why, whylen, "cannot enable forwarding in %s (status %d)", b->ns, status);
		return -1;
	}
	return 0;
}

/* Namespace, veth pair, addresses, forwarding and the NAT rules. */
static int
path_build(struct blackhole *b, char *why, size_t whylen)
{
	char hcidr[40], ncidr[40], dport[16], to[48], rport[16];
	const char *add_ns[] = {"netns", "add", b->ns, NULL};
	const char *veth[] = {"link", "add", b->vh, "type", "veth", "peer", "name", b->vn, NULL};
	const char *move[] = {"link", "set", b->vn, "netns", b->ns, NULL};
	const char *haddr[] = {"addr", "add", hcidr, "dev", b->vh, NULL};
	const char *hup[] = {"link", "set", b->vh, "up", NULL};
	const char *naddr[] = {"ip", "addr", "add", ncidr, "dev", b->vn, NULL};
	const char *nup[] = {"ip", "link", "set", b->vn, "up", NULL};
	const char *lo[] = {"ip", "link", "set", "lo", "up", NULL};
	const char *dnat[] = {
	    b->iptables, "-t",	"nat", "-A",   "PREROUTING",	   "-p", "tcp", "-d", b->ns_ip,
	    "--dport",	 dport, "-j",  "DNAT", "--to-destination", to,	 NULL};
	const char *masq[] = {b->iptables, "-t",      "nat", "-A", "POSTROUTING", "-p", "tcp", "-d",
			      b->host_ip,  "--dport", rport, "-j", "MASQUERADE",  NULL};

	snprintf(hcidr, sizeof(hcidr), "%s/30", b->host_ip);
	snprintf(ncidr, sizeof(ncidr), "%s/30", b->ns_ip);
	snprintf(dport, sizeof(dport), "%d", NS_PORT);
	if (run(b->ip, add_ns, why, whylen) != 0)
		return -1;
	b->made_ns = 1;
	if (run(b->ip, veth, why, whylen) || run(b->ip, move, why, whylen) ||
	    run(b->ip, haddr, why, whylen) || run(b->ip, hup, why, whylen) ||
	    ns_run(b, naddr, why, whylen) || ns_run(b, nup, why, whylen) ||
	    ns_run(b, lo, why, whylen) || relay_start(b, why, whylen))
		return -1;
	snprintf(rport, sizeof(rport), "%d", b->relay_port);
	snprintf(to, sizeof(to), "%s:%d", b->host_ip, b->relay_port);
	if (ns_forward(b, why, whylen) != 0)
		return -1;
	return ns_run(b, dnat, why, whylen) || ns_run(b, masq, why, whylen) ? -1 : 0;
}

struct blackhole *
blackhole_new(const char *host, int port, char *why, size_t whylen)
{
	struct blackhole *b = calloc(1, sizeof(*b));
	int id = (int)(getpid() % 250) + 1;

	if (b == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	b->lfd = -1;
	pthread_mutex_init(&b->mu, NULL);
	for (int i = 0; i < RELAY_CONNS_MAX; i++)
		b->fds[i] = -1;
	b->ip = tprog_optional("ip");
	b->iptables = tprog_optional("iptables");
	if (b->ip == NULL || b->iptables == NULL) {
		snprintf(why, whylen, "%s is missing (Debian package %s)",
			 b->ip ? "iptables" : "ip", b->ip ? "iptables" : "iproute2");
		goto fail;
	}
	snprintf(b->ns, sizeof(b->ns), "tmprov-bh-%d", (int)getpid());
	snprintf(b->vh, sizeof(b->vh), "bhh%d", (int)getpid());
	snprintf(b->vn, sizeof(b->vn), "bhn%d", (int)getpid());
	snprintf(b->host_ip, sizeof(b->host_ip), "10.231.%d.1", id);
	snprintf(b->ns_ip, sizeof(b->ns_ip), "10.231.%d.2", id);
	b->target.sin_family = AF_INET;
	b->target.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &b->target.sin_addr) != 1) {
		snprintf(why, whylen, "%s is not an IPv4 address", host);
		goto fail;
	}
	if (path_build(b, why, whylen) != 0)
		goto fail;
	return b;
fail:
	blackhole_free(b);
	return NULL;
}

const char *
blackhole_host(const struct blackhole *b)
{
	return b->ns_ip;
}

int
blackhole_port(const struct blackhole *b)
{
	(void)b;
	return NS_PORT;
}

int
blackhole_cut(struct blackhole *b, int cut)
{
	const char *rule[] = {b->iptables, cut ? "-I" : "-D", "FORWARD", "-j", "DROP", NULL};
	char why[512];
	int rc = ns_run(b, rule, why, sizeof(why));

	if (rc)
		fprintf(stderr, "blackhole: %s\n", why);
	return rc;
}

void
blackhole_free(struct blackhole *b)
{
	const char *del[] = {"netns", "del", NULL, NULL};

	if (b == NULL)
		return;
	atomic_store(&b->stop, 1);
	if (b->acceptor_started)
		pthread_join(b->acceptor, NULL);
	if (b->lfd >= 0)
		close(b->lfd);
	pthread_mutex_lock(&b->mu);
	for (int i = 0; i < RELAY_CONNS_MAX; i++)
		if (b->fds[i] >= 0)
			shutdown(b->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&b->mu);
	/* Each relay thread sees the stop flag within its 500 ms poll. */
	for (int waited = 0; atomic_load(&b->live) > 0 && waited < 5000; waited += 10)
		usleep(10000);
	/* Deleting the namespace deletes its end of the veth pair, and so the pair. */
	if (b->made_ns) {
		del[2] = b->ns;
		run(b->ip, del, NULL, 0);
	}
	free(b);
}
