/* procstat: the process_* metrics Prometheus' client libraries export (start time, CPU, memory,
 * file descriptors), read from /proc/self at each scrape and rendered in the text format. */
#ifndef TMPROV_PROCSTAT_H
#define TMPROV_PROCSTAT_H

#include "buf.h"

/* Appends the process_* families to out. Returns 0 (a figure /proc does not give is left out),
 * or non-zero when out hit its ceiling. */
int procstat_render(struct buf *out);

#endif
