/* netaddr: turns a "host:port" / "[v6]:port" listen setting into a socket address, matches
 * peer addresses against comma-separated CIDR allow-lists, and finds the client behind trusted
 * proxies in an X-Forwarded-For list. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
netaddr_parse(const char *hostport, struct sockaddr_storage *out, socklen_t *outlen, char *err,
	      size_t errlen)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	size_t hlen;
	char *end;
	long port;

	memset(out, 0, sizeof(*out));
	if (colon == NULL || (hlen = (size_t)(colon - hostport)) == 0 || hlen >= sizeof(host))
		goto bad;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || errno != 0 || port < 0 || port > 65535)
		goto bad;
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && host[hlen - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*outlen = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;

	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		goto bad;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*outlen = sizeof(*s4);
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not a numeric host:port or [v6]:port", hostport);
	return -1;
}

int
netaddr_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int
netaddr_port_file_write(const char *file, int port, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", file, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "port file %s: path too long", file);
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errlen, "port file %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, file) != 0) {
		snprintf(err, errlen, "port file %s: %s", file, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
cidr_parse(const char *s, struct netaddr_cidr *c)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long prefix;

	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		return -1;
	prefix = c->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		long max = prefix;

		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || errno != 0 || prefix < 0 || prefix > max)
			return -1;
	}
	c->prefix = (int)prefix;
	return 0;
}

int
netaddr_allow_parse(const char *list, struct netaddr_allow *out, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = -1;

	out->n = 0;
	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		if (out->n == NETADDR_MAX_CIDRS) {
			snprintf(err, errlen, "more than %d ranges", NETADDR_MAX_CIDRS);
			goto out;
		}
		if (cidr_parse(tok, &out->cidrs[out->n]) != 0) {
			snprintf(err, errlen, "\"%s\" is not an address or CIDR range", tok);
			goto out;
		}
		out->n++;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xFF << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

int
netaddr_allow_match(const struct netaddr_allow *allow, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, a6->s6_addr, 16);
			family = AF_INET6;
		}
	} else {
		return 0;
	}
	for (int i = 0; i < allow->n; i++) {
		if (allow->cidrs[i].family == family &&
		    prefix_match(addr, allow->cidrs[i].addr, allow->cidrs[i].prefix))
			return 1;
	}
	return 0;
}

/* ":port" (n bytes, colon included) with 1 to 5 digits and a value up to 65535. */
static bool
port_ok(const char *s, size_t n)
{
	long port = 0;

	if (n < 2 || n > 6 || s[0] != ':')
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		port = port * 10 + (s[i] - '0');
	}
	return port <= 65535;
}

static int
v4_set(const char *host, struct sockaddr_storage *out)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;

	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -1;
	s4->sin_family = AF_INET;
	return 0;
}

static int
v6_set(const char *host, struct sockaddr_storage *out)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

	if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
		return -1;
	s6->sin6_family = AF_INET6;
	return 0;
}

/* One X-Forwarded-For element (s, n bytes, spaces trimmed by the caller) into out: 0 or -1. */
static int
forwarded_element(const char *s, size_t n, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *colon;
	size_t hlen = n;

	if (n == 0 || n >= sizeof(host))
		return -1;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') { /* [v6] or [v6]:port */
		const char *close = memchr(s, ']', n);

		if (close == NULL)
			return -1;
		hlen = (size_t)(close - s) - 1;
		if (close + 1 != s + n && !port_ok(close + 1, (size_t)(s + n - close - 1)))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		return v6_set(host, out);
	}
	/* One colon: IPv4 with a port. More: a bare IPv6 address. */
	colon = memchr(s, ':', n);
	if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)) == NULL) {
		if (!port_ok(colon, (size_t)(s + n - colon)))
			return -1;
		hlen = (size_t)(colon - s);
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (colon != NULL && hlen == n)
		return v6_set(host, out);
	return v4_set(host, out);
}

int
netaddr_forwarded_client(const struct netaddr_allow *trusted, const char *list,
			 struct sockaddr_storage *out)
{
	const char *end = list + strlen(list);

	while (end > list && isspace((unsigned char)end[-1]))
		end--;
	if (end == list)
		return 0;
	for (;;) {
		const char *start = end;
		const char *e = end;

		while (start > list && start[-1] != ',')
			start--;
		end = start; /* the comma before this element, or the list's start */
		while (start < e && isspace((unsigned char)*start))
			start++;
		while (e > start && isspace((unsigned char)e[-1]))
			e--;
		if (forwarded_element(start, (size_t)(e - start), out) != 0)
			return -1;
		if (!netaddr_allow_match(trusted, (const struct sockaddr *)out) || end == list)
			return 1;
		end--; /* past the comma */
	}
}

void
netaddr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *addr = NULL;
	int family = sa->sa_family;

	if (family == AF_INET) {
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		addr = a6;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			addr = a6->s6_addr + 12;
			family = AF_INET;
		}
	}
	if (addr == NULL || inet_ntop(family, addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}
