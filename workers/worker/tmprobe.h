/* tmprobe: while TM counts as down, a thread of its own asks TM a harmless question at a bounded
 * rate, so that a paused worker finds TM back without sending its backlog at it; it plans each
 * probe in the breaker's view (tmretry.h: open, half-open while the probe is out). */
#ifndef TMPROV_WORKER_TMPROBE_H
#define TMPROV_WORKER_TMPROBE_H

#include <stddef.h>

#include "dbpool.h"
#include "metrics.h"
#include "tm_client.h"
#include "tmretry.h"

/* The company_uid the probe asks query_account about when our database knows no active account
 * (or cannot be asked): an account that exists nowhere, so that TM's answer (FAILED, no such
 * account) changes and reveals nothing. */
#define TMPROBE_COMPANY_UID "tmprov-health-probe"
/* At most one probe a second: harmless to a TM that is starting up. */
#define TMPROBE_INTERVAL_MS 1000

struct tmprobe;

/* Starts the thread, with a TM client of its own made from opts (copied); h, pool (may be
 * NULL: always TMPROBE_COMPANY_UID) and m (may be NULL: tmprov_tm_probes_total{result} counts
 * the probes) are borrowed and must outlive the prober. The probe is a query_account of an
 * active account of ours, looked up once per outage: a real call TM serves as it serves ours,
 * which changes nothing. NULL with err on failure. */
struct tmprobe *tmprobe_start(const struct tm_client_opts *opts, struct tmhealth *h,
			      struct dbpool *pool, struct metrics *m, char *err, size_t errlen);
/* Asks the thread to stop, without waiting: a probe on the wire ends within TMPROV_TM_TIMEOUT,
 * which shutdown spends on its other steps meanwhile. NULL is a no-op. */
void tmprobe_request_stop(struct tmprobe *p);
/* Stops the thread (waits for it) and frees. NULL is a no-op. */
void tmprobe_free(struct tmprobe *p);

#endif
