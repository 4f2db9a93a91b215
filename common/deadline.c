/* deadline: now plus a duration, normalised (see deadline.h). */
#include "deadline.h"

void
deadline_after(struct timespec *ts, long ms)
{
	deadline_after_on(CLOCK_REALTIME, ts, ms);
}

void
deadline_after_on(clockid_t clock, struct timespec *ts, long ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
