/* faults: fault-injection settings and the per-call choice. Counts (*_next) and error_rate are
 * kept per scope: one for every endpoint plus one for "any", so only=ENDPOINT can aim them. */
#include "faults.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SCOPE_ANY	 EP_COUNT
#define SCOPES		 (EP_COUNT + 1)
#define FAIL_COMPANY_MAX 64
#define COMPANY_NAME_MAX 256
#define MS_MAX		 600000L /* ten minutes: longer than any client timeout worth testing */
#define NEXT_MAX	 1000000000L

/* The plain part of the settings, copied whole so that a bad query changes nothing. */
struct settings {
	long next[FAULT_KINDS][SCOPES];
	double error_rate[SCOPES];
	long latency_ms, timeout_ms, retry_after;
	int error_status;
	int spec_style;
	uint64_t rng;
};

/* Values named in one list parameter (fail_company, malformed_for): owned copies. */
struct namelist {
	char *v[FAIL_COMPANY_MAX];
	size_t n;
};

struct faults {
	struct settings s;
	struct namelist companies; /* fail_company: create/update of these names answer FAILED */
	struct namelist garble;	   /* malformed_for: calls naming these values answer garbage */
};

/* The list parameters, in struct faults order. */
static const char *const list_params[] = {"fail_company", "malformed_for"};
#define NLISTS 2

static const char *const kind_names[FAULT_KINDS] = {"none", "error",	 "timeout",
						    "drop", "malformed", "html"};

/* Parameters that set a *_next count, in the order a call consumes them when several apply. */
static const struct {
	const char *param;
	enum fault_kind kind;
} next_params[] = {
    {"drop_next", FAULT_DROP},	 {"timeout_next", FAULT_TIMEOUT},
    {"error_next", FAULT_ERROR}, {"malformed_next", FAULT_MALFORMED},
    {"html_next", FAULT_HTML},
};
#define NNEXT (sizeof(next_params) / sizeof(next_params[0]))

const char *
fault_kind_name(enum fault_kind k)
{
	return (unsigned)k < FAULT_KINDS ? kind_names[k] : "?";
}

static void
settings_default(struct settings *s)
{
	uint64_t seed = 0;

	memset(s, 0, sizeof(*s));
	s->timeout_ms = 30000;
	s->retry_after = -1;
	s->error_status = 503;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = 0x9e3779b97f4a7c15ULL;
	s->rng = seed | 1;
}

static void
namelist_clear(struct namelist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static struct namelist *
faults_list(struct faults *f, size_t i)
{
	return i == 0 ? &f->companies : &f->garble;
}

struct faults *
faults_new(void)
{
	struct faults *f = calloc(1, sizeof(*f));

	if (f != NULL)
		settings_default(&f->s);
	return f;
}

void
faults_free(struct faults *f)
{
	if (f == NULL)
		return;
	namelist_clear(&f->companies);
	namelist_clear(&f->garble);
	free(f);
}

void
faults_reset(struct faults *f)
{
	settings_default(&f->s);
	namelist_clear(&f->companies);
	namelist_clear(&f->garble);
}

static int
parse_long(const char *name, const char *v, long min, long max, long *out, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
		snprintf(err, errlen, "%s: \"%s\" is not an integer in [%ld, %ld]", name, v, min,
			 max);
		return -1;
	}
	*out = n;
	return 0;
}

static int
parse_rate(const char *v, double *out, char *err, size_t errlen)
{
	char *end;
	double r;

	errno = 0;
	r = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(r) || r < 0.0 || r > 1.0) {
		snprintf(err, errlen, "error_rate: \"%s\" is not a number in [0, 1]", v);
		return -1;
	}
	*out = r;
	return 0;
}

static int
parse_status(const char *v, int *out, char *err, size_t errlen)
{
	/* 401, 403 and 404 are what a load balancer or proxy in front of TM answers when it is
	 * misconfigured or TM's backend is gone: no TM body, nothing done. */
	static const int allowed[] = {401, 403, 404, 429, 500, 502, 503, 504};

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		char num[8];

		snprintf(num, sizeof(num), "%d", allowed[i]);
		if (strcmp(v, num) == 0) {
			*out = allowed[i];
			return 0;
		}
	}
	snprintf(err, errlen,
		 "error_status: \"%s\" is not one of 401, 403, 404, 429, 500, 502, 503, 504", v);
	return -1;
}

/* Splits the comma list v of parameter name into list (owned copies). */
static int
parse_list(const char *name, const char *v, struct namelist *list, char *err, size_t errlen)
{
	const char *p = v;

	if (*v == '\0')
		return 0; /* an empty list clears the parameter */
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len > 0) {
			if (list->n == FAIL_COMPANY_MAX || len > COMPANY_NAME_MAX) {
				snprintf(err, errlen, "%s: at most %d values of at most %d bytes",
					 name, FAIL_COMPANY_MAX, COMPANY_NAME_MAX);
				return -1;
			}
			list->v[list->n] = strndup(p, len);
			if (list->v[list->n] == NULL) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			list->n++;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* First pass: reset=1 and only=ENDPOINT, which change how the other parameters apply. */
static int
apply_modifiers(const struct query *q, int *reset, int *scope, char *err, size_t errlen)
{
	const char *v;

	*reset = 0;
	*scope = SCOPE_ANY;
	if ((v = query_get(q, "reset")) != NULL) {
		if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0) {
			snprintf(err, errlen, "reset: \"%s\" is not 0 or 1", v);
			return -1;
		}
		*reset = v[0] == '1';
	}
	if ((v = query_get(q, "only")) != NULL) {
		*scope = endpoint_parse(v);
		if (*scope < 0) {
			snprintf(err, errlen, "only: \"%s\" is not a TM endpoint", v);
			return -1;
		}
	}
	return 0;
}

/* Applies one parameter other than reset, only and fail_company to s. */
static int
apply_param(struct settings *s, int scope, const char *k, const char *v, char *err, size_t errlen)
{
	long n;

	for (size_t i = 0; i < NNEXT; i++) {
		if (strcmp(k, next_params[i].param) == 0)
			return parse_long(k, v, 0, NEXT_MAX, &s->next[next_params[i].kind][scope],
					  err, errlen);
	}
	if (strcmp(k, "error_rate") == 0)
		return parse_rate(v, &s->error_rate[scope], err, errlen);
	if (strcmp(k, "latency_ms") == 0)
		return parse_long(k, v, 0, MS_MAX, &s->latency_ms, err, errlen);
	if (strcmp(k, "timeout_ms") == 0)
		return parse_long(k, v, 0, MS_MAX, &s->timeout_ms, err, errlen);
	if (strcmp(k, "error_status") == 0)
		return parse_status(v, &s->error_status, err, errlen);
	if (strcmp(k, "retry_after") == 0) {
		if (*v == '\0') {
			s->retry_after = -1;
			return 0;
		}
		return parse_long(k, v, 0, 86400, &s->retry_after, err, errlen);
	}
	if (strcmp(k, "style") == 0) {
		if (strcmp(v, "compact") != 0 && strcmp(v, "spec") != 0) {
			snprintf(err, errlen, "style: \"%s\" is not compact or spec", v);
			return -1;
		}
		s->spec_style = strcmp(v, "spec") == 0;
		return 0;
	}
	if (strcmp(k, "seed") == 0) {
		if (parse_long(k, v, 0, NEXT_MAX, &n, err, errlen) != 0)
			return -1;
		s->rng = ((uint64_t)n * 0x9e3779b97f4a7c15ULL) | 1;
		return 0;
	}
	snprintf(err, errlen, "unknown fault parameter \"%s\"", k);
	return -1;
}

/* The list parameter k (index into list_params), or -1 when k is none. */
static int
list_param(const char *k)
{
	for (size_t i = 0; i < NLISTS; i++) {
		if (strcmp(k, list_params[i]) == 0)
			return (int)i;
	}
	return -1;
}

int
faults_apply(struct faults *f, const struct query *q, char *err, size_t errlen)
{
	struct namelist lists[NLISTS] = {0};
	bool given[NLISTS] = {false};
	struct settings s;
	const char *rep;
	int reset, scope, li, rc = -1;

	if ((rep = query_repeated(q)) != NULL) {
		snprintf(err, errlen, "%s: given more than once", rep);
		return -1;
	}
	if (q->too_many || q->has_nul) {
		snprintf(err, errlen, "too many parameters or a NUL byte in a value");
		return -1;
	}
	if (apply_modifiers(q, &reset, &scope, err, errlen) != 0)
		return -1;
	s = f->s;
	if (reset)
		settings_default(&s);
	for (size_t i = 0; i < q->n; i++) {
		const char *k = q->p[i].key, *v = q->p[i].value;

		if (strcmp(k, "reset") == 0 || strcmp(k, "only") == 0)
			continue;
		if ((li = list_param(k)) >= 0) {
			given[li] = true;
			if (parse_list(k, v, &lists[li], err, errlen) != 0)
				goto out;
			continue;
		}
		if (apply_param(&s, scope, k, v, err, errlen) != 0)
			goto out;
	}
	f->s = s;
	for (size_t i = 0; i < NLISTS; i++) {
		if (reset || given[i]) {
			namelist_clear(faults_list(f, i));
			*faults_list(f, i) = lists[i];
			lists[i].n = 0; /* ownership moved to f */
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < NLISTS; i++)
		namelist_clear(&lists[i]);
	return rc;
}

/* xorshift64*: fast, and good enough to spread errors over calls. */
static double
rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static enum fault_kind
pick_kind(struct settings *s, enum endpoint ep)
{
	const int scopes[2] = {(int)ep, SCOPE_ANY};

	for (size_t i = 0; i < NNEXT; i++) {
		for (int j = 0; j < 2; j++) {
			long *left = &s->next[next_params[i].kind][scopes[j]];

			if (*left > 0) {
				(*left)--;
				return next_params[i].kind;
			}
		}
	}
	for (int j = 0; j < 2; j++) {
		double rate = s->error_rate[scopes[j]];

		if (rate > 0.0 && rng_next(&s->rng) < rate)
			return FAULT_ERROR;
	}
	return FAULT_NONE;
}

void
faults_pick(struct faults *f, enum endpoint ep, struct fault_pick *out)
{
	out->kind = pick_kind(&f->s, ep);
	out->status = f->s.error_status;
	out->retry_after = f->s.retry_after;
	out->latency_ms = f->s.latency_ms;
	out->hold_ms = out->kind == FAULT_TIMEOUT ? f->s.timeout_ms : 0;
	out->spec_style = f->s.spec_style;
}

static bool
namelist_has(const struct namelist *l, const char *v)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], v) == 0)
			return true;
	}
	return false;
}

int
faults_company_fails(const struct faults *f, const char *company_name)
{
	return namelist_has(&f->companies, company_name);
}

int
faults_garbles(const struct faults *f, const struct query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		/* Our partner id names no account: listing it would garble every call. */
		if (strcmp(q->p[i].key, "service_company_uid") != 0 &&
		    namelist_has(&f->garble, q->p[i].value))
			return 1;
	}
	return 0;
}

/* {"error_next":N, ..., "error_rate":R} for one scope, only the settings in use. */
static json_t *
scope_dump(const struct settings *s, int scope)
{
	json_t *o = json_object();

	for (size_t i = 0; i < NNEXT; i++) {
		long n = s->next[next_params[i].kind][scope];

		if (n > 0)
			json_object_set_new(o, next_params[i].param, json_integer(n));
	}
	if (s->error_rate[scope] > 0.0)
		json_object_set_new(o, "error_rate", json_real(s->error_rate[scope]));
	return o;
}

json_t *
faults_dump(const struct faults *f)
{
	const struct settings *s = &f->s;
	json_t *o, *scopes, *names;

	o = json_pack("{s:I, s:I, s:i, s:s}", "latency_ms", (json_int_t)s->latency_ms, "timeout_ms",
		      (json_int_t)s->timeout_ms, "error_status", s->error_status, "style",
		      s->spec_style ? "spec" : "compact");
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "retry_after",
			    s->retry_after < 0 ? json_null() : json_integer(s->retry_after));
	for (size_t li = 0; li < NLISTS; li++) {
		const struct namelist *l = li == 0 ? &f->companies : &f->garble;

		names = json_array();
		for (size_t i = 0; i < l->n; i++) {
			json_t *name = json_string(l->v[i]);

			if (name != NULL) /* NULL: not UTF-8, which JSON cannot carry */
				json_array_append_new(names, name);
		}
		json_object_set_new(o, list_params[li], names);
	}
	scopes = json_object();
	for (int sc = 0; sc < SCOPES; sc++) {
		json_t *one = scope_dump(s, sc);

		if (json_object_size(one) == 0) {
			json_decref(one);
			continue;
		}
		json_object_set_new(scopes, sc == SCOPE_ANY ? "any" : endpoint_name(sc), one);
	}
	json_object_set_new(o, "scopes", scopes);
	return o;
}
