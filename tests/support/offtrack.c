/* offtrack: jobs made up for the offset tracker's tests (a ring of 64, never freed), tracked by
 * a new offsets set. */
#include "offtrack.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

struct job *
offtrack_job(const char *topic, int32_t partition, int64_t offset)
{
	static struct job jobs[64];
	static int next;
	struct job *j = &jobs[next++ % 64];

	memset(j, 0, sizeof(*j));
	j->topic = (char *)topic;
	j->partition = partition;
	j->offset = offset;
	return j;
}

struct job *
offtrack_track(struct offsets *o, int32_t p, int64_t offset)
{
	struct job *j = offtrack_job(OFFTRACK_TOPIC, p, offset);

	assert_int_equal(offsets_track(o, j), 0);
	return j;
}

struct offsets *
offtrack_new(void)
{
	struct offsets *o = offsets_new(OFFTRACK_TOPIC);

	assert_non_null(o);
	return o;
}
