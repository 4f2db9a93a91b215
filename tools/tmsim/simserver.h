/* simserver: tmsim's HTTP side on libmicrohttpd — the listening socket, a few polling threads (a
 * held answer suspends its connection instead of a thread, so latency never serialises calls),
 * the route table, and the one function that turns a handler's reply (reply.h) into an answer, a
 * held answer or a dropped connection. */
#ifndef TMSIM_SIMSERVER_H
#define TMSIM_SIMSERVER_H

#include <stddef.h>

#include "state.h"

/* Binds and listens on "host:port" (port 0: any free one); returns the socket and the port. */
int simserver_listen(const char *hostport, int *port, char *err, size_t errlen);

struct simserver;

/* Serves on listen_fd (taken over). max_conns: connection limit; idle_s: idle timeout. */
struct simserver *simserver_start(struct sim_state *st, int listen_fd, unsigned max_conns,
				  unsigned idle_s, char *err, size_t errlen);
/* Sends the held answers at once, stops accepting, closes connections and joins the threads. */
void simserver_stop(struct simserver *srv);

#endif
