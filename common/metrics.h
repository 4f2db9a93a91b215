/* metrics: a small thread-safe registry of Prometheus counters, gauges and histograms, each
 * series named by metric name + label text, rendered in the text exposition format. */
#ifndef TMPROV_METRICS_H
#define TMPROV_METRICS_H

#include "buf.h"

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declares a metric family once (name, HELP text, TYPE "counter"|"gauge"|"histogram").
 * For histograms, buckets are the upper bounds in ascending order (at most 16). */
int metrics_declare(struct metrics *m, const char *name, const char *type, const char *help,
		    const double *buckets, int nbuckets);

/* labels: Prometheus label text without braces, e.g. `type="account.create",outcome="ok"`, or
 * "" for none. Label values are ours (enum names), never user input. Series are created on first
 * use; an undeclared name is ignored (and counted in tmprov_metrics_errors_total). */
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);

/* Creates the series at 0 when it does not exist yet (counters, gauges and histograms alike), so
 * that a labelled counter is there before its first event and increase() sees that event. */
void metrics_touch(struct metrics *m, const char *name, const char *labels);
/* Removes the series (a partition no longer ours): it leaves /metrics until set again. */
void metrics_remove(struct metrics *m, const char *name, const char *labels);
/* Declares tmprov_build_info and sets tmprov_build_info{version="version"} to 1 (the value
 * escaped as the text format wants). 0 or -1. */
int metrics_build_info(struct metrics *m, const char *version);

/* Appends the exposition text of every family to out. Returns 0, or non-zero when out hit its
 * ceiling or memory ran out. */
int metrics_render(struct metrics *m, struct buf *out);

#endif
