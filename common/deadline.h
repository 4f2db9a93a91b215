/* deadline: absolute times (CLOCK_REALTIME, or a clock given), the form pthread_cond_timedwait
 * and sem_timedwait take, for the timed waits that let a thread look at a stop flag now and then.
 */
#ifndef TMPROV_DEADLINE_H
#define TMPROV_DEADLINE_H

#include <time.h>

/* *ts = now (CLOCK_REALTIME) + ms milliseconds (ms >= 0). */
void deadline_after(struct timespec *ts, long ms);
/* The same on clock (CLOCK_MONOTONIC for a condition variable set to it). */
void deadline_after_on(clockid_t clock, struct timespec *ts, long ms);

#endif
