/* netaddr: turns a "host:port" / "[v6]:port" listen setting into a socket address, matches
 * peer addresses against comma-separated CIDR allow-lists, and finds the client behind trusted
 * proxies in an X-Forwarded-For list. */
#ifndef TMPROV_NETADDR_H
#define TMPROV_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Numeric hosts only ("127.0.0.1", "0.0.0.0", "[::1]", "localhost" as 127.0.0.1): a listen
 * address must not depend on DNS. Returns 0 or -1 with err set. */
int netaddr_parse(const char *hostport, struct sockaddr_storage *out, socklen_t *outlen, char *err,
		  size_t errlen);

/* The port of a bound socket, or -1. */
int netaddr_bound_port(int fd);

/* Writes "PORT\n" to file through a temporary and a rename, so that a reader (a test, the
 * local stack script) never sees half of it. Returns 0 or -1 with err set. */
int netaddr_port_file_write(const char *file, int port, char *err, size_t errlen);

#define NETADDR_MAX_CIDRS 32

struct netaddr_cidr {
	int family;
	unsigned char addr[16];
	int prefix;
};

struct netaddr_allow {
	struct netaddr_cidr cidrs[NETADDR_MAX_CIDRS];
	int n;
};

/* Parses "127.0.0.1/32,::1/128,10.0.0.0/8"; a bare address means a single host. */
int netaddr_allow_parse(const char *list, struct netaddr_allow *out, char *err, size_t errlen);
/* 1 if sa is inside one of the ranges (IPv4-mapped IPv6 peers match IPv4 ranges), else 0. */
int netaddr_allow_match(const struct netaddr_allow *allow, const struct sockaddr *sa);

/* The client an X-Forwarded-For list names behind the proxies in trusted. list is the header's
 * value (several header lines joined with ',' in their order). Walking from the right, each
 * element is an address a proxy vouched for until one is not itself a trusted proxy: that one is
 * the client; what stands left of it the client wrote and is never read. An element may be
 * "192.0.2.1", "192.0.2.1:port", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:port", with
 * spaces around it. Returns 1 with out set (the left-most address when all are trusted), 0 when
 * the list is blank, -1 when an element that is not an address is reached first. */
int netaddr_forwarded_client(const struct netaddr_allow *trusted, const char *list,
			     struct sockaddr_storage *out);

/* sa's address as text ("192.0.2.1", "2001:db8::1"; an IPv4-mapped IPv6 one as IPv4), or "?"
 * for another family. out should hold INET6_ADDRSTRLEN bytes. */
void netaddr_text(const struct sockaddr *sa, char *out, size_t outlen);

#endif
