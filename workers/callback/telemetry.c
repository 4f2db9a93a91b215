/* telemetry: declares tmprov-callback's metric families once, at start-up. */
#include "telemetry.h"

#include <stdio.h>

/* Logins cost one argon2id hash (tens of ms at the default cost); database-only requests take a
 * few ms. The buckets cover both and a slow database up to its statement timeout. */
static const double telemetry_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					   0.1,	  0.25,	  0.5,	 1,    2.5,   10};

/* Every route x result, and each route's histogram, at 0 from the start: increase() then sees
 * the first request of each. */
static void
telemetry_zero(struct metrics *m, telemetry_names_fn routes, telemetry_names_fn results)
{
	char labels[128];
	const char *route, *result;

	for (size_t i = 0; (route = routes(i)) != NULL; i++) {
		for (size_t r = 0; (result = results(r)) != NULL; r++) {
			snprintf(labels, sizeof(labels), "route=\"%s\",result=\"%s\"", route,
				 result);
			metrics_touch(m, TELEMETRY_REQUESTS, labels);
		}
		snprintf(labels, sizeof(labels), "route=\"%s\"", route);
		metrics_touch(m, TELEMETRY_DURATION, labels);
	}
	metrics_touch(m, TELEMETRY_THROTTLED, "");
	metrics_touch(m, TELEMETRY_HASHES, "");
}

int
telemetry_declare(struct metrics *m, telemetry_names_fn routes, telemetry_names_fn results)
{
	int rc = 0;

	rc |= metrics_declare(m, TELEMETRY_REQUESTS, "counter",
			      "Requests answered, by route and result.", NULL, 0);
	rc |= metrics_declare(m, TELEMETRY_DURATION, "histogram",
			      "Time from a request's arrival to its answer being sent, by route.",
			      telemetry_buckets,
			      (int)(sizeof(telemetry_buckets) / sizeof(telemetry_buckets[0])));
	rc |= metrics_declare(m, TELEMETRY_THROTTLED, "counter",
			      "Logins refused by the per-email failure throttle without a hash.",
			      NULL, 0);
	rc |= metrics_declare(m, TELEMETRY_HASHES_IN_FLIGHT, "gauge",
			      "argon2id checks running now.", NULL, 0);
	rc |= metrics_declare(m, TELEMETRY_HASHES, "counter",
			      "argon2id checks done (known and unknown users alike).", NULL, 0);
	if (rc == 0)
		telemetry_zero(m, routes, results);
	return rc ? -1 : 0;
}

void
telemetry_request(struct metrics *m, const char *route, const char *result, double seconds)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "route=\"%s\",result=\"%s\"", route, result);
	metrics_add(m, TELEMETRY_REQUESTS, labels, 1);
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	metrics_observe(m, TELEMETRY_DURATION, labels, seconds);
}
