/* libFuzzer driver for common/tm_xml and the answer half of common/tm_client: any bytes as a
 * TurboMeeting answer, for every endpoint. Checks the invariants callers rely on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tm_client.h"
#include "tm_xml.h"

/* Above TM_XML_DEFAULT_MAX, so the cap is exercised too (`make fuzz` runs -max_len=70000). */
#define FUZZ_CAP (TM_XML_DEFAULT_MAX + 1024)

static void
check_terminated(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static void
check_reply(int rc, const struct tm_reply *r, const char *err)
{
	if (rc > 0 || (rc < 0 && err[0] == '\0'))
		abort();
	check_terminated(r->status_text, sizeof(r->status_text));
	check_terminated(r->reason, sizeof(r->reason));
	check_terminated(r->company_uid, sizeof(r->company_uid));
	check_terminated(r->company_name, sizeof(r->company_name));
	check_terminated(r->email, sizeof(r->email));
	check_terminated(r->meeting_id, sizeof(r->meeting_id));
	if (rc == 0 && r->status != TM_STATUS_OK && r->status != TM_STATUS_FAILED)
		abort();
	if (r->rooms < -1 || r->rooms > TM_NUMBER_MAX || r->participants < -1 ||
	    r->participants > TM_NUMBER_MAX)
		abort();
}

/* The partner id must never come back in a result's text, whatever TM echoes. */
static void
check_result(const struct tm_result *res, const char *partner)
{
	if (res->outcome != TM_OK && res->outcome != TM_FAILED && res->outcome != TM_TRANSIENT)
		abort();
	if (res->outcome != TM_OK && res->error[0] == '\0')
		abort();
	if (res->outcome == TM_FAILED && res->reason[0] == '\0')
		abort();
	if (strstr(res->reason, partner) != NULL || strstr(res->error, partner) != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char partner[] = "PARTNERSECRET";
	struct tm_reply r;
	struct tm_result res;
	struct tm_response resp = {.rc = CURLE_OK, .http_status = 200, .request_sent = true};
	char err[256] = "";
	int rc;

	rc = tm_xml_parse((const char *)data, size, FUZZ_CAP, &r, err, sizeof(err));
	check_reply(rc, &r, err);
	resp.body = (const char *)data;
	resp.body_len = size;
	for (int ep = 0; ep < TM_ENDPOINT_COUNT; ep++) {
		tm_result_from_response(&res, (enum tm_endpoint)ep, &resp, FUZZ_CAP, 60000,
					partner);
		check_result(&res, partner);
		/* Classification agrees with the parse: an unreadable answer is transient, a
		 * FAILED one a business failure, a success never a failure. */
		if (rc < 0 && res.outcome != TM_TRANSIENT)
			abort();
		if (rc == 0 && (r.status == TM_STATUS_FAILED) != (res.outcome == TM_FAILED))
			abort();
	}
	return 0;
}
