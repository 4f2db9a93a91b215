/* bench_stats: the latency samples of one benchmark round — collected per thread, merged, sorted
 * once for percentiles — the monotonic clock they are taken with, and the figures they become. */
#ifndef TMPROV_BENCH_STATS_H
#define TMPROV_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A round keeps at most this many samples (512 MiB of doubles): far more than any sensible
 * --duration produces; a longer run gets the distinct error BENCH_SAMPLES_TOO_MANY. */
#define BENCH_SAMPLES_MAX (64UL * 1024 * 1024)

enum { BENCH_SAMPLES_NOMEM = -1, BENCH_SAMPLES_TOO_MANY = -2 };

struct bench_samples {
	double *ms; /* one latency per call, milliseconds */
	size_t n, cap;
	bool sorted;
};

void bench_samples_init(struct bench_samples *s);
void bench_samples_free(struct bench_samples *s);
/* Returns 0, BENCH_SAMPLES_NOMEM or BENCH_SAMPLES_TOO_MANY. */
int bench_samples_add(struct bench_samples *s, double ms);
/* Appends src's samples to dst; same return values. */
int bench_samples_merge(struct bench_samples *dst, const struct bench_samples *src);
/* Nearest-rank quantile, q in [0, 1] (sorts s once); 0 when s is empty. */
double bench_samples_quantile(struct bench_samples *s, double q);
/* Text of a bench_samples_add error. */
const char *bench_samples_strerror(int rc);

/* clock_now_ms_f() + duration_ms; duration_ms 0: never (a round bounded by --calls instead). */
double bench_deadline(long duration_ms);

/* Sets figures {"rate": rate, "p50_ms", "p99_ms", "max_ms"} from s. Returns 0 or -1 (memory). */
int bench_figures_put(json_t *figures, double rate, struct bench_samples *s);

#endif
