/* blackhole: a path to a TCP service through a network namespace the test creates, which an
 * iptables DROP in that namespace turns into a black hole (packets vanish, no reset), as a
 * dead network does. Clients connect to blackhole_host():blackhole_port(); the namespace
 * rewrites that to a relay thread of the test, which connects to the service on loopback. */
#ifndef TMPROV_TEST_BLACKHOLE_H
#define TMPROV_TEST_BLACKHOLE_H

#include <stddef.h>

struct blackhole;

/* Builds the path to host:port. NULL with why (a reason to skip: ip or iptables missing, no
 * permission for network namespaces) when it cannot be built here. */
struct blackhole *blackhole_new(const char *host, int port, char *why, size_t whylen);
/* The address clients use: the namespace's side of the veth pair ("10.231.N.2"). */
const char *blackhole_host(const struct blackhole *b);
int blackhole_port(const struct blackhole *b);
/* cut 1: every packet through the namespace is dropped; 0: they pass again. 0 or -1. */
int blackhole_cut(struct blackhole *b, int cut);
/* Removes the namespace (and with it the rules and the veth pair) and stops the relay.
 * NULL: no-op. */
void blackhole_free(struct blackhole *b);

#endif
