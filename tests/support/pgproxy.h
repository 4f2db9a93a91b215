/* pgproxy: a PostgreSQL wire-protocol proxy on loopback for fault tests — forwards every
 * connection to the real server, and on request loses the acknowledgement of one commit: the
 * server has committed, the client sees its connection drop. */
#ifndef TMPROV_TEST_PGPROXY_H
#define TMPROV_TEST_PGPROXY_H

#include <stddef.h>

struct pgproxy;

/* Listens on 127.0.0.1 (a free port) and forwards to host:port (TCP). Clients must connect
 * with sslmode=disable and gssencmode=disable, so that the stream can be read. 0, or -1 with
 * err. */
int pgproxy_start(struct pgproxy **out, const char *host, const char *port, char *err,
		  size_t errlen);
int pgproxy_port(const struct pgproxy *p);
/* conninfo (key=value form) pointed at the proxy, in out[outlen]. 0, or -1 when it does not
 * fit. */
int pgproxy_conninfo(const struct pgproxy *p, const char *conninfo, char *out, size_t outlen);
/* Arms the fault for the next Bind of prepared statement stmt on any connection: the proxy
 * forwards that client's messages as usual, withholds the server's answers from the Bind on,
 * and once the server's ReadyForQuery after the client's next Sync has come (the pipeline is
 * committed), closes both sides without forwarding them. Fires once. */
void pgproxy_arm(struct pgproxy *p, const char *stmt);
/* How many times the armed fault fired. */
int pgproxy_fired(struct pgproxy *p);
/* Stops the thread, closes every connection. NULL: no-op. */
void pgproxy_free(struct pgproxy *p);

#endif
