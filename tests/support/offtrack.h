/* offtrack: what the offset tracker's tests share — jobs made up for a topic's offsets (from a
 * ring of 64, never freed) and tracked by an offsets set, and a new set. */
#ifndef TMPROV_TEST_OFFTRACK_H
#define TMPROV_TEST_OFFTRACK_H

#include <stdint.h>

#include "../../workers/worker/offsets.h"

#define OFFTRACK_TOPIC "tm.commands"

/* A new tracker of OFFTRACK_TOPIC; fails the test on error. */
struct offsets *offtrack_new(void);
/* Tracks offset on partition p and returns its job (its epoch set); fails the test on error. */
struct job *offtrack_track(struct offsets *o, int32_t p, int64_t offset);
/* A job of topic at partition/offset, not tracked. */
struct job *offtrack_job(const char *topic, int32_t partition, int64_t offset);

#endif
