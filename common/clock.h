/* clock: the monotonic clock (CLOCK_MONOTONIC), in the units callers measure with: elapsed
 * times, timeouts and rates. Not wall-clock time; common/deadline gives that for timed waits. */
#ifndef TMPROV_CLOCK_H
#define TMPROV_CLOCK_H

#include <stdint.h>

/* Nanoseconds since an arbitrary fixed point. */
int64_t clock_now_ns(void);
/* Whole milliseconds since the same point. */
long clock_now_ms(void);
/* Milliseconds with their fraction, for latencies under a millisecond. */
double clock_now_ms_f(void);
/* Seconds with their fraction. */
double clock_now_s(void);

#endif
