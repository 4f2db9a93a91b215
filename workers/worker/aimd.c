/* aimd: the adaptive limit of TM calls in flight (additive increase, multiplicative decrease, as
 * TCP and Netflix's concurrency-limits): the rule, pure, and the gate that holds calls to it. */
#include "aimd.h"

#include "clock.h"
#include "deadline.h"

void
aimd_rule_init(struct aimd_rule *r, unsigned min, unsigned max, long now_ms)
{
	*r = (struct aimd_rule){0};
	r->min = min < 1 ? 1 : min;
	r->max = max < r->min ? r->min : max;
	/* Start at the configured maximum: a healthy TM should not wait for the limit to grow
	 * at start-up; the first slow round trip halves it. */
	r->limit = r->max;
	r->window_start_ms = now_ms;
}

double
aimd_rule_floor(const struct aimd_rule *r)
{
	if (r->floor_prev > 0 && (r->floor_cur <= 0 || r->floor_prev < r->floor_cur))
		return r->floor_prev;
	return r->floor_cur;
}

unsigned
aimd_rule_limit(const struct aimd_rule *r)
{
	unsigned n = (unsigned)r->limit;

	return n < r->min ? r->min : n > r->max ? r->max : n;
}

static void
aimd_rule_floor_add(struct aimd_rule *r, double latency_ms, long now_ms)
{
	if (now_ms - r->window_start_ms >= AIMD_FLOOR_WINDOW_MS) {
		r->floor_prev = r->floor_cur;
		r->floor_cur = 0;
		r->window_start_ms = now_ms;
	}
	if (r->floor_cur <= 0 || latency_ms < r->floor_cur)
		r->floor_cur = latency_ms;
}

static void
aimd_rule_decrease(struct aimd_rule *r, long now_ms)
{
	if (now_ms < r->no_decrease_until_ms)
		return;
	r->limit *= AIMD_DECREASE;
	if (r->limit < r->min)
		r->limit = r->min;
	r->decreases++;
	/* Once per round trip: the calls that started before this cut answer within it. */
	r->no_decrease_until_ms = now_ms + (long)(r->ewma_ms > 1 ? r->ewma_ms : 1);
}

void
aimd_rule_sample(struct aimd_rule *r, enum aimd_signal s, double latency_ms, unsigned in_flight,
		 long now_ms)
{
	double floor;

	if (s == AIMD_NONE)
		return;
	if (latency_ms < 0)
		latency_ms = 0;
	r->ewma_ms = r->ewma_ms <= 0 ? latency_ms
				     : r->ewma_ms + AIMD_EWMA_WEIGHT * (latency_ms - r->ewma_ms);
	if (s == AIMD_OVERLOAD) {
		aimd_rule_decrease(r, now_ms);
		return;
	}
	aimd_rule_floor_add(r, latency_ms, now_ms);
	floor = aimd_rule_floor(r);
	if (r->ewma_ms > floor * AIMD_SLOW_FACTOR && r->ewma_ms > floor + AIMD_SLOW_MARGIN_MS) {
		aimd_rule_decrease(r, now_ms);
		return;
	}
	if (2 * in_flight + 2 >= aimd_rule_limit(r) && r->limit < r->max) {
		r->limit += 1.0 / r->limit;
		if (r->limit > r->max)
			r->limit = r->max;
		r->increases++;
	}
}

void
aimd_init(struct aimd *a, unsigned min, unsigned max)
{
	pthread_mutex_init(&a->lock, NULL);
	fcond_init(&a->freed);
	aimd_rule_init(&a->rule, min, max, clock_now_ms());
	a->in_flight = 0;
}

void
aimd_destroy(struct aimd *a)
{
	fcond_destroy(&a->freed);
	pthread_mutex_destroy(&a->lock);
}

bool
aimd_enter(struct aimd *a, const atomic_bool *stop, unsigned *in_flight_before)
{
	bool ok = true;

	pthread_mutex_lock(&a->lock);
	while (a->in_flight >= aimd_rule_limit(&a->rule)) {
		if (stop_requested(stop)) {
			ok = false;
			goto out;
		}
		/* Timed, so that a stop request is seen without a broadcast for it. */
		fcond_wait(&a->freed, &a->lock, 100);
	}
	if (in_flight_before != NULL)
		*in_flight_before = a->in_flight;
	a->in_flight++;
out:
	pthread_mutex_unlock(&a->lock);
	return ok;
}

void
aimd_leave(struct aimd *a, enum aimd_signal s, double latency_ms, unsigned in_flight_before)
{
	pthread_mutex_lock(&a->lock);
	if (a->in_flight > 0)
		a->in_flight--;
	aimd_rule_sample(&a->rule, s, latency_ms, in_flight_before, clock_now_ms());
	/* A grown limit may admit more than one waiter. */
	fcond_broadcast(&a->freed);
	pthread_mutex_unlock(&a->lock);
}

void
aimd_snapshot(struct aimd *a, unsigned *limit, unsigned *in_flight)
{
	pthread_mutex_lock(&a->lock);
	*limit = aimd_rule_limit(&a->rule);
	*in_flight = a->in_flight;
	pthread_mutex_unlock(&a->lock);
}
