/* clock: the monotonic clock (CLOCK_MONOTONIC), in the units callers measure with: elapsed
 * times, timeouts and rates. Not wall-clock time; common/deadline gives that for timed waits. */
#ifndef TMPROV_CLOCK_H
#define TMPROV_CLOCK_H

#include <stdint.h>

/* Nanoseconds since an arbitrary fixed point. */
int64_t clock_now_ns(void);
/* Whole milliseconds since the same point. */
long clock_now_ms(void);
/* Milliseconds from now until until_ms (clock_now_ms()), at least least and at most most (an
 * int's range): the wait a step with a deadline may take. */
int clock_ms_until(long until_ms, long least, long most);
/* Milliseconds with their fraction, for latencies under a millisecond. */
double clock_now_ms_f(void);
/* Seconds with their fraction. */
double clock_now_s(void);

#endif
