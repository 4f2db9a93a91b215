/* waiter: what `--wait` does. Follows TMPROV_TOPIC_EVENTS — and TMPROV_TOPIC_DLQ, for an id
 * refused because another command already used it — from the moment before a batch was sent,
 * until every command of the batch has its outcome (the event's commandid attribute), asking
 * the database as well for outcomes that existed before (a re-sent id gets no second event).
 * Shows progress (a bar on a terminal, plain lines otherwise) and prints the summary. */
#ifndef TMPROV_WAITER_H
#define TMPROV_WAITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

struct waiter;

/* Starts reading both topics from their current ends: create it before sending. c must
 * outlive the waiter. NULL with err when Kafka cannot be read. */
struct waiter *waiter_new(const struct cfg *c, char *err, size_t errlen);
void waiter_free(struct waiter *w);

/* Adds a command sent; label names where it came from ("line 3"). A repeated id is ignored.
 * 0, or -1 when out of memory. */
int waiter_expect(struct waiter *w, const char *id, const char *label);

/* Waits until every command has its outcome, timeout_ms passes, or SIGINT/SIGTERM
 * (clicfg_stop). Returns how many have none. */
size_t waiter_run(struct waiter *w, long timeout_ms);

/* Prints the counts and every command that did not succeed, with its reason. Returns true when
 * every command succeeded. */
bool waiter_summary(struct waiter *w, FILE *out);

#endif
