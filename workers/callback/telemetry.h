/* telemetry: the Prometheus metrics of tmprov-callback (names, help, buckets) and the one call
 * that records a finished request. Labels are route and result names, never request data. */
#ifndef CALLBACK_TELEMETRY_H
#define CALLBACK_TELEMETRY_H

#include <stddef.h>

#include "metrics.h"

#define TELEMETRY_REQUESTS	   "tmprov_callback_requests_total"
#define TELEMETRY_DURATION	   "tmprov_callback_request_duration_seconds"
#define TELEMETRY_THROTTLED	   "tmprov_callback_throttled_total"
#define TELEMETRY_HASHES_IN_FLIGHT "tmprov_callback_hashes_in_flight"
#define TELEMETRY_HASHES	   "tmprov_callback_hashes_total"

/* The i-th name of a label's values, NULL past the last. */
typedef const char *(*telemetry_names_fn)(size_t i);

/* Declares every family above, with a series at 0 for each route x result (routes, results:
 * the tables the labels come from); 0 or -1. */
int telemetry_declare(struct metrics *m, telemetry_names_fn routes, telemetry_names_fn results);
/* One finished request: route and result are names from our own tables. */
void telemetry_request(struct metrics *m, const char *route, const char *result, double seconds);

#endif
