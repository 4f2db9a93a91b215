/* Fault matrix, row V4 (issue 11): TM closes kept-alive connections after 1 s idle (tmsim's
 * TMSIM_IDLE_TIMEOUT), while the load comes in bursts with pauses about that long, so calls
 * meet connections TM is closing: no create_account is ever re-sent behind the worker's back.
 * Its own binary because the idle timeout is set when tmsim starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/fmatrix.h"

static struct fm *F;

#define V4_BURSTS 10

static void
test_v4_idle_close(void **state)
{
	struct fload l;
	struct fm_inv inv;

	(void)state;
	fm_row_begin(F, "V4");
	fload_build(&l, "v4", "cuq", 700);
	for (size_t b = 0; b < V4_BURSTS; b++) {
		size_t to = l.n * (b + 1) / V4_BURSTS;

		fload_send_range(F, &l, l.n * b / V4_BURSTS, to);
		fload_wait_done(F, &l, (long)to, 30000);
		/* Around tmsim's 1 s idle timeout: some connections are gone, some closing. */
		fm_sleep_ms(fm_rand(900, 1100));
	}
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands in %d bursts, idle connections closed after 1 s, TM calls %ld, "
		   "creates %ld, dup creates %ld, parked %ld",
		   inv.n, V4_BURSTS, inv.calls, sim_count(F->e->sim, "create_account"),
		   inv.creates_dup, inv.parked);
	fload_free(&l);
}

int
main(void)
{
	static const char *const sim_env[] = {"TMSIM_IDLE_TIMEOUT=1s", NULL};
	const struct fm_opts opts = {.sim_env = sim_env};
	const struct CMUnitTest rows[] = {FM_ROW(test_v4_idle_close)};

	return fm_run(&F, "fkeep", &opts, rows, sizeof(rows) / sizeof(rows[0]));
}
