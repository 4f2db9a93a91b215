/* faults: the fault-injection settings (latency, error answers, held and dropped answers,
 * malformed and HTML bodies, FAILED companies, garbled accounts) and the choice of fault for each
 * TM call. Not thread-safe: the caller holds the simulator's lock. */
#ifndef TMSIM_FAULTS_H
#define TMSIM_FAULTS_H

#include <jansson.h>

#include "endpoint.h"
#include "query.h"

enum fault_kind { FAULT_NONE, FAULT_ERROR, FAULT_TIMEOUT, FAULT_DROP, FAULT_MALFORMED, FAULT_HTML };
#define FAULT_KINDS 6

/* "none", "error", "timeout", "drop", "malformed", "html". */
const char *fault_kind_name(enum fault_kind k);

/* What to do with one call. */
struct fault_pick {
	enum fault_kind kind;
	int status;	  /* HTTP status of a FAULT_ERROR answer */
	long retry_after; /* Retry-After seconds on error answers, -1: no header */
	long latency_ms;  /* added to every answer */
	long hold_ms;	  /* FAULT_TIMEOUT: how long the answer is held */
	int spec_style; /* lay the XML out as the spec's examples do (values on their own lines) */
};

struct faults;

struct faults *faults_new(void);
void faults_free(struct faults *f);
void faults_reset(struct faults *f);
/* Merges one /_sim/faults (or --faults) query into f, all or nothing: on a bad or unknown
 * parameter returns -1 with a message and leaves f unchanged. */
int faults_apply(struct faults *f, const struct query *q, char *err, size_t errlen);
/* Chooses the fault for one call to ep, consuming a *_next count if one applies. */
void faults_pick(struct faults *f, enum endpoint ep, struct fault_pick *out);
/* Whether create/update for this company name must answer FAILED (fail_company). */
int faults_company_fails(const struct faults *f, const char *company_name);
/* Whether the call's answer must be garbage (malformed_for): one of its parameters, our partner
 * id aside, is a listed value. The call still acts; only its answer is unreadable, as when TM
 * writes one account's data into its XML unescaped. */
int faults_garbles(const struct faults *f, const struct query *q);
/* The current settings as JSON (new reference). */
json_t *faults_dump(const struct faults *f);

#endif
