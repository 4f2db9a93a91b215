/* wmetrics: every series of the worker's labelled counters created at 0 at start-up, their label
 * values taken from the tables that give them, so that increase() sees each first event. */
#ifndef TMPROV_WORKER_WMETRICS_H
#define TMPROV_WORKER_WMETRICS_H

#include "metrics.h"

/* tmprov_commands_total (command type x outcome), tmprov_dlq_total (reason),
 * tmprov_tm_calls_total (endpoint x result), tmprov_tm_retries_total and
 * tmprov_tm_call_duration_seconds (endpoint), tmprov_tm_probes_total (result). The families
 * must be declared. */
void wmetrics_zero(struct metrics *m);

#endif
