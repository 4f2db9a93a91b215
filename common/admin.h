/* admin: the health and metrics port every long-running program opens (TMPROV_ADMIN_LISTEN):
 * GET /healthz (alive: the main loop ticks), /readyz (dependencies reachable), /metrics
 * (Prometheus text: the program's registry and process_*). */
#ifndef TMPROV_ADMIN_H
#define TMPROV_ADMIN_H

#include <stddef.h>

#include "metrics.h"

/* Returns 1 when ready, else 0 with a short reason (no secrets) in why. Called from the admin
 * server's thread: it must be thread-safe and quick. */
typedef int (*admin_ready_fn)(void *arg, char *why, size_t whylen);

struct admin;

/* listen: host:port (port 0 picks one). metrics and ready are borrowed, not owned. */
struct admin *admin_start(const char *listen, struct metrics *m, admin_ready_fn ready, void *arg,
			  char *err, size_t errlen);
int admin_port(const struct admin *a);
/* /healthz answers 503 once the main loop has not called admin_tick for stall_ms (0: never;
 * TMPROV_HEALTH_STALL_TIMEOUT). admin_start's time counts as the first tick. */
void admin_set_stall(struct admin *a, long stall_ms);
/* From the main loop at every turn: it is alive. Thread-safe, cheap. */
void admin_tick(struct admin *a);
void admin_stop(struct admin *a);

#endif
