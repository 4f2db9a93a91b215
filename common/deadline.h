/* deadline: absolute CLOCK_REALTIME times, the form pthread_cond_timedwait and sem_timedwait
 * take, for the timed waits that let a thread look at a stop flag now and then. */
#ifndef TMPROV_DEADLINE_H
#define TMPROV_DEADLINE_H

#include <time.h>

/* *ts = now (CLOCK_REALTIME) + ms milliseconds (ms >= 0). */
void deadline_after(struct timespec *ts, long ms);

#endif
