/* netaddr: turns a "host:port" / "[v6]:port" listen setting into a socket address, and matches
 * peer addresses against comma-separated CIDR allow-lists. */
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

#endif
