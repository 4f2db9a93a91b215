/* wmetrics: every series of the worker's labelled counters created at 0 at start-up, their label
 * values taken from the tables that give them, so that increase() sees each first event. */
#include "wmetrics.h"

#include <stdio.h>

#include "dlqdef.h"
#include "exec.h"
#include "tm_client.h"
#include "validate.h"

/* exec_count's type label: a type's name, "unknown" when the message named none. */
static const char *
type_label(int kind)
{
	const char *name = cmd_type_name((enum cmd_type)kind);

	return name ? name : "unknown";
}

static void
zero_commands(struct metrics *m)
{
	char labels[128];
	const char *outcome;

	for (int kind = 0; kind < CMD_TYPE_COUNT; kind++) {
		for (size_t i = 0; (outcome = exec_outcome_name(i)) != NULL; i++) {
			snprintf(labels, sizeof(labels), "type=\"%s\",outcome=\"%s\"",
				 type_label(kind), outcome);
			metrics_touch(m, "tmprov_commands_total", labels);
		}
	}
}

static void
zero_tm(struct metrics *m)
{
	char labels[96];

	for (int ep = 0; ep < TM_ENDPOINT_COUNT; ep++) {
		const char *name = tm_endpoint_name((enum tm_endpoint)ep);

		for (int o = 0; o < TM_OUTCOME_COUNT; o++) {
			snprintf(labels, sizeof(labels), "endpoint=\"%s\",result=\"%s\"", name,
				 tm_outcome_name((enum tm_outcome)o));
			metrics_touch(m, "tmprov_tm_calls_total", labels);
		}
		snprintf(labels, sizeof(labels), "endpoint=\"%s\"", name);
		metrics_touch(m, "tmprov_tm_retries_total", labels);
		metrics_touch(m, "tmprov_tm_call_duration_seconds", labels);
	}
	for (int o = 0; o < TM_OUTCOME_COUNT; o++) {
		snprintf(labels, sizeof(labels), "result=\"%s\"",
			 tm_outcome_name((enum tm_outcome)o));
		metrics_touch(m, "tmprov_tm_probes_total", labels);
	}
}

void
wmetrics_zero(struct metrics *m)
{
	char labels[96];

	zero_commands(m);
	for (int i = 0; i < DLQ_REASON_COUNT; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
			 dlq_reason_name((enum dlq_reason)i));
		metrics_touch(m, "tmprov_dlq_total", labels);
	}
	zero_tm(m);
	metrics_touch(m, "tmprov_commit_failures_total", "");
	metrics_touch(m, "tmprov_tm_rate_waits_total", "");
	metrics_touch(m, "tmprov_tm_rate_wait_seconds_total", "");
	metrics_touch(m, "tmprov_tm_rate_stale_total", "");
}
