/* mxfault: hostile and garbled TM answers for the fault matrix (see mxfault.h). The bodies are
 * built when sent, outside the lock; the 50 MB one is the only large allocation. */
#include "mxfault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GARBLE_MAX   16
#define UID_MAX	     64
#define HUGE_BYTES   (50L * 1024 * 1024)
#define DEEP_LEVELS  100000
#define COUNT_MAX    1000000L
#define ANY_ENDPOINT (-1)

struct mxfault {
	enum mx_hostile kind;
	long count;
	int only; /* an endpoint, or ANY_ENDPOINT */
	char garble[GARBLE_MAX][UID_MAX];
	int ngarble;
};

static const char *const kind_names[] = {"none", "truncated", "huge", "xxe", "laughs", "deep"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

struct mxfault *
mxfault_new(void)
{
	struct mxfault *m = calloc(1, sizeof(*m));

	if (m != NULL)
		mxfault_reset(m);
	return m;
}

void
mxfault_free(struct mxfault *m)
{
	free(m);
}

void
mxfault_reset(struct mxfault *m)
{
	memset(m, 0, sizeof(*m));
	m->only = ANY_ENDPOINT;
}

enum mx_hostile
mxfault_pick(struct mxfault *m, enum endpoint ep, const struct query *q, int *garbled)
{
	const char *uid = query_get(q, "company_uid");

	*garbled = 0;
	for (int i = 0; uid != NULL && i < m->ngarble; i++)
		*garbled |= strcmp(m->garble[i], uid) == 0;
	if (m->count <= 0 || (m->only != ANY_ENDPOINT && m->only != (int)ep))
		return MX_NONE;
	m->count--;
	return m->kind;
}

/* A malloc'd body of text repeated: head, n times mid, tail. */
static char *
repeat(const char *head, const char *mid, long n, const char *tail, size_t *len)
{
	size_t hl = strlen(head), ml = strlen(mid), tl = strlen(tail);
	char *b = malloc(hl + ml * (size_t)n + tl + 1), *p = b;

	if (b == NULL)
		return NULL;
	memcpy(p, head, hl);
	p += hl;
	for (long i = 0; i < n; i++, p += ml)
		memcpy(p, mid, ml);
	memcpy(p, tail, tl + 1);
	*len = (size_t)(p - b) + tl;
	return b;
}

static char *
hostile_body(enum mx_hostile h, size_t *len)
{
	static const char xxe[] =
	    "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	    "<__Return__><__Status__>FAILED</__Status__><__Reason__>&x;</__Reason__>"
	    "<__CompanyName__>&x;</__CompanyName__></__Return__>\n";
	static const char laughs[] =
	    "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY a \"lollollollollollollollollollol\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c "
	    "\"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
	    "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e "
	    "\"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
	    "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g "
	    "\"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
	    "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i "
	    "\"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>\n"
	    "<__Return__><__Status__>SUCCEED</__Status__><__Reason__>&i;</__Reason__>"
	    "<__CompanyName__>&i;</__CompanyName__></__Return__>\n";

	switch (h) {
	case MX_TRUNCATED:
		return repeat("<?xml version=\"1.0\"?>\n<__Return__><__Status__>SUCC", "", 0, "",
			      len);
	case MX_HUGE:
		return repeat("<__Return__><__Status__>SUCCEED</__Status__><__Reason__>", "A",
			      HUGE_BYTES, "</__Reason__></__Return__>\n", len);
	case MX_XXE:
		return repeat(xxe, "", 0, "", len);
	case MX_LAUGHS:
		return repeat(laughs, "", 0, "", len);
	case MX_DEEP:
		return repeat("<__Return__><__Status__>SUCCEED</__Status__>", "<a>", DEEP_LEVELS,
			      "</__Return__>\n", len);
	default:
		return NULL;
	}
}

void
mxfault_reply(enum mx_hostile h, int garbled, struct reply *rep)
{
	/* What a TM that does not escape writes for a customer named "P & <Q>". */
	static const char garble[] = "<__Return__><__Status__>SUCCEED</__Status__>"
				     "<__CompanyName__>P & <Q></__CompanyName__></__Return__>\n";
	size_t len = 0;
	char *body;

	if (h == MX_NONE && !garbled)
		return;
	if (rep->drop || rep->status != 200)
		return; /* the call's own fault wins */
	body = h != MX_NONE ? hostile_body(h, &len) : strdup(garble);
	if (h == MX_NONE)
		len = strlen(garble);
	if (body == NULL) {
		reply_text(rep, 500, "text/plain", "out of memory\n");
		return;
	}
	reply_set(rep, 200, "text/xml", body, len);
}

int
mxfault_apply(struct mxfault *m, const struct query *q, char *err, size_t errlen)
{
	const char *kind = query_get(q, "hostile"), *count = query_get(q, "count");
	const char *only = query_get(q, "only"), *uid = query_get(q, "garble_uid");
	const char *reset = query_get(q, "reset");
	struct mxfault next = *m;
	size_t k = 1;

	if (reset != NULL && strcmp(reset, "1") == 0)
		mxfault_reset(&next);
	if (kind != NULL) {
		char *end;

		while (k < NKINDS && strcmp(kind_names[k], kind) != 0)
			k++;
		next.count = count ? strtol(count, &end, 10) : 1;
		if (k == NKINDS || next.count < 0 || next.count > COUNT_MAX ||
		    (count && *end != '\0')) {
			snprintf(err, errlen,
				 "hostile: KIND in truncated, huge, xxe, laughs, deep; "
				 "count in [0, %ld]",
				 COUNT_MAX);
			return -1;
		}
		next.kind = (enum mx_hostile)k;
		next.only = ANY_ENDPOINT;
		if (only != NULL && (next.only = endpoint_parse(only)) < 0) {
			snprintf(err, errlen, "only: \"%s\" is not a TM endpoint", only);
			return -1;
		}
	}
	if (uid != NULL) {
		if (next.ngarble == GARBLE_MAX || strlen(uid) >= UID_MAX) {
			snprintf(err, errlen, "garble_uid: at most %d ids of < %d bytes",
				 GARBLE_MAX, UID_MAX);
			return -1;
		}
		snprintf(next.garble[next.ngarble++], UID_MAX, "%s", uid);
	}
	*m = next;
	return 0;
}

json_t *
mxfault_dump(const struct mxfault *m)
{
	return json_pack("{s:s, s:I, s:i}", "hostile", kind_names[m->kind], "count",
			 (json_int_t)m->count, "garbled", m->ngarble);
}
