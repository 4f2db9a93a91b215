/* calllog: every TM call tmsim received, in order, with its parameters, who sent it (address
 * and User-Agent), the fault applied and the status answered; a ring capped at a maximum (the
 * newest are kept), plus counters that are never capped. Not thread-safe: the caller holds the
 * simulator's lock. */
#ifndef TMSIM_CALLLOG_H
#define TMSIM_CALLLOG_H

#include <jansson.h>
#include <stddef.h>

#include "endpoint.h"
#include "faults.h"
#include "query.h"

/* CALL_NO_STATUS: no TM answer was computed (error and html faults have no effect). */
enum call_status { CALL_NO_STATUS, CALL_SUCCEED, CALL_SUCCEEDED, CALL_FAILED };

struct calllog;

struct calllog *calllog_new(size_t max);
void calllog_free(struct calllog *log);
void calllog_clear(struct calllog *log);
/* Records one call (copies what it needs from q, q->peer and q->agent included, and reason).
 * Returns its sequence number (from 1), or 0 when out of memory (the counters still count it). */
unsigned long calllog_add(struct calllog *log, enum endpoint ep, const struct query *q,
			  enum fault_kind fault, enum call_status status, const char *reason);
/* {"calls":[...]} with the calls whose seq > since, of endpoint ep (-1: all); new reference. */
json_t *calllog_dump(const struct calllog *log, unsigned long since, int ep);
/* {"total":N,"by_endpoint":{...},"by_fault":{...},"by_status":{...},"logged":N,
 *  "log_dropped":N}; new reference. */
json_t *calllog_stats(const struct calllog *log);
/* "SUCCEED", "SUCCEEDED", "FAILED" or "". */
const char *call_status_name(enum call_status s);

#endif
