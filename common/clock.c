/* clock: one reading of CLOCK_MONOTONIC in each unit (see clock.h). */
#include "clock.h"

#include <time.h>

int64_t
clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long
clock_now_ms(void)
{
	return (long)(clock_now_ns() / 1000000);
}

int
clock_ms_until(long until_ms, long least, long most)
{
	long left = until_ms - clock_now_ms();

	return (int)(left < least ? least : left > most ? most : left);
}

double
clock_now_ms_f(void)
{
	return (double)clock_now_ns() / 1e6;
}

double
clock_now_s(void)
{
	return (double)clock_now_ns() / 1e9;
}
