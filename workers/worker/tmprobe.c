/* tmprobe: while TM counts as down, a thread of its own asks TM a harmless question at a bounded
 * rate, so that a paused worker finds TM back without sending its backlog at it. */
#include "tmprobe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct tmprobe {
	pthread_t thread;
	struct tm_client *tc;
	struct tmhealth *health;
	struct metrics *metrics; /* may be NULL */
	atomic_bool stop;
};

/* One probe: query_account of an account that does not exist. Any answer of TM's (its FAILED
 * above all) marks TM up in tmhealth_record; no answer keeps it down. */
static void
probe_once(struct tmprobe *p)
{
	const struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT,
				       .company_uid = TMPROBE_COMPANY_UID};
	struct tm_result res;

	char labels[48];

	tm_client_call(p->tc, &req, &res);
	log_debug("TM probe: %s http=%ld %s", tm_outcome_name(res.outcome), res.http_status,
		  res.error);
	if (p->metrics != NULL) {
		snprintf(labels, sizeof(labels), "result=\"%s\"", tm_outcome_name(res.outcome));
		metrics_add(p->metrics, "tmprov_tm_probes_total", labels, 1);
	}
	tmhealth_record(p->health, TMPROBE_COMPANY_UID, &res);
}

static void *
probe_main(void *arg)
{
	struct tmprobe *p = arg;

	while (tmretry_sleep(TMPROBE_INTERVAL_MS, &p->stop)) {
		/* Only while down, and never during TM's Retry-After. */
		if (tmhealth_available(p->health) || tmhealth_hold_ms(p->health) > 0)
			continue;
		probe_once(p);
	}
	return NULL;
}

struct tmprobe *
tmprobe_start(const struct tm_client_opts *opts, struct tmhealth *h, struct metrics *m, char *err,
	      size_t errlen)
{
	struct tmprobe *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, errlen, "tmprobe: out of memory");
		return NULL;
	}
	atomic_init(&p->stop, false);
	p->health = h;
	p->metrics = m;
	p->tc = tm_client_new(opts, err, errlen);
	if (p->tc == NULL)
		goto fail;
	if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
		snprintf(err, errlen, "tmprobe: cannot start its thread");
		goto fail;
	}
	return p;
fail:
	tm_client_free(p->tc);
	free(p);
	return NULL;
}

void
tmprobe_request_stop(struct tmprobe *p)
{
	if (p != NULL)
		atomic_store(&p->stop, true);
}

void
tmprobe_free(struct tmprobe *p)
{
	if (p == NULL)
		return;
	tmprobe_request_stop(p);
	pthread_join(p->thread, NULL);
	tm_client_free(p->tc);
	free(p);
}
