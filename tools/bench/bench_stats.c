/* bench_stats: the latency samples of one benchmark round — collected per thread, merged, sorted
 * once for percentiles — the monotonic clock they are taken with, and the figures they become. */
#include "bench_stats.h"
#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
bench_samples_init(struct bench_samples *s)
{
	memset(s, 0, sizeof(*s));
}

void
bench_samples_free(struct bench_samples *s)
{
	if (s == NULL)
		return;
	free(s->ms);
	bench_samples_init(s);
}

/* Makes room for need samples in all. */
static int
bench_samples_reserve(struct bench_samples *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 4096;
	double *p;

	if (need > BENCH_SAMPLES_MAX)
		return BENCH_SAMPLES_TOO_MANY;
	if (need <= s->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > BENCH_SAMPLES_MAX)
		cap = BENCH_SAMPLES_MAX;
	p = realloc(s->ms, cap * sizeof(*p));
	if (p == NULL)
		return BENCH_SAMPLES_NOMEM;
	s->ms = p;
	s->cap = cap;
	return 0;
}

int
bench_samples_add(struct bench_samples *s, double ms)
{
	int rc = bench_samples_reserve(s, s->n + 1);

	if (rc != 0)
		return rc;
	s->ms[s->n++] = ms;
	s->sorted = false;
	return 0;
}

int
bench_samples_merge(struct bench_samples *dst, const struct bench_samples *src)
{
	int rc;

	if (src->n == 0)
		return 0;
	rc = bench_samples_reserve(dst, dst->n + src->n);
	if (rc != 0)
		return rc;
	memcpy(dst->ms + dst->n, src->ms, src->n * sizeof(*src->ms));
	dst->n += src->n;
	dst->sorted = false;
	return 0;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bench_samples_quantile(struct bench_samples *s, double q)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->ms, s->n, sizeof(*s->ms), bench_cmp_double);
		s->sorted = true;
	}
	/* Nearest rank: the smallest sample with at least q of all samples at or below it. */
	rank = (size_t)ceil(q * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->ms[rank - 1];
}

const char *
bench_samples_strerror(int rc)
{
	switch (rc) {
	case BENCH_SAMPLES_TOO_MANY:
		return "too many latency samples in one round (shorten --duration or --calls)";
	case BENCH_SAMPLES_NOMEM:
		return "out of memory for latency samples";
	default:
		return "no error";
	}
}

double
bench_deadline(long duration_ms)
{
	return duration_ms > 0 ? clock_now_ms_f() + (double)duration_ms : HUGE_VAL;
}

int
bench_figures_put(json_t *figures, double rate, struct bench_samples *s)
{
	if (json_object_set_new(figures, "rate", json_real(rate)) != 0 ||
	    json_object_set_new(figures, "p50_ms", json_real(bench_samples_quantile(s, 0.50))) !=
		0 ||
	    json_object_set_new(figures, "p99_ms", json_real(bench_samples_quantile(s, 0.99))) !=
		0 ||
	    json_object_set_new(figures, "max_ms", json_real(bench_samples_quantile(s, 1.0))) != 0)
		return -1;
	return 0;
}
