/* hashgate: a counting semaphore around password_verify. Waiting requests hold a pool thread,
 * which is fine: the thread pool is small and the wait is one hash long. */
#include "hashgate.h"

#include <errno.h>
#include <semaphore.h>
#include <pthread.h>
#include <stdlib.h>

#include "telemetry.h"

struct hashgate {
	sem_t slots;
	pthread_mutex_t lock; /* keeps the gauge equal to in_flight: sets never cross */
	int in_flight;
	struct metrics *m;
};

struct hashgate *
hashgate_new(unsigned slots, struct metrics *m)
{
	struct hashgate *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	if (sem_init(&g->slots, 0, slots ? slots : 1) != 0) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	g->m = m;
	if (m != NULL)
		metrics_set(m, TELEMETRY_HASHES_IN_FLIGHT, "", 0);
	return g;
}

void
hashgate_free(struct hashgate *g)
{
	if (g == NULL)
		return;
	sem_destroy(&g->slots);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void
hashgate_count(struct hashgate *g, int delta)
{
	pthread_mutex_lock(&g->lock);
	g->in_flight += delta;
	if (g->m != NULL)
		metrics_set(g->m, TELEMETRY_HASHES_IN_FLIGHT, "", g->in_flight);
	pthread_mutex_unlock(&g->lock);
}

int
hashgate_verify(struct hashgate *g, const struct password_opts *opts, const char *verifier,
		const char *credential)
{
	int ok;

	while (sem_wait(&g->slots) != 0 && errno == EINTR)
		;
	hashgate_count(g, 1);
	ok = password_verify(opts, verifier, credential);
	hashgate_count(g, -1);
	if (g->m != NULL)
		metrics_add(g->m, TELEMETRY_HASHES, "", 1);
	sem_post(&g->slots);
	return ok;
}
