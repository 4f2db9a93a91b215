/* sender: sends a batch of commands to TMPROV_TOPIC_COMMANDS, each keyed by its subject, with
 * the idempotent producer (so each partition keeps the order sent), reports any not
 * delivered, and with --wait hands the delivered ones to a waiter and prints its summary. */
#ifndef TMPROV_SENDER_H
#define TMPROV_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

struct sender;

/* The flags of the subcommands that send (send, import): --wait, --timeout DUR, --dry-run,
 * --binary where binary_ok is preset, and one FILE. */
struct sender_opts {
	bool wait, dry_run;
	bool binary_ok, binary;
	long timeout_ms; /* preset the default */
	const char *file;
};

/* Parses argv (after clicfg_load) into o; file_usage says what the one operand is ("one
 * FILE.csv"). CLI_OK, or clicfg_usage()'s status after saying what is wrong. */
int sender_flags(const char *name, int argc, char **argv, const char *file_usage,
		 struct sender_opts *o);

/* wait: follow the outcomes (the topics' ends are marked now, before anything is sent). c must
 * outlive the sender. NULL with err when Kafka cannot be reached. */
struct sender *sender_new(const struct cfg *c, bool wait, char *err, size_t errlen);
void sender_free(struct sender *s);
/* From now on, send in CloudEvents binary content mode (Kafka protocol binding: each attribute
 * a ce_ header, datacontenttype as content-type, data as the value) instead of structured mode
 * (the event as the value, content-type application/cloudevents+json). */
void sender_binary(struct sender *s);

/* Queues one command (body as is, or in binary mode its parts; key = subject); label names its
 * origin in messages
 * ("line 3"). 0, or -1 with err (not queued). */
int sender_add(struct sender *s, const char *id, const char *subject, const char *body, size_t len,
	       const char *label, char *err, size_t errlen);

/* Waits for the deliveries (reporting each failure on stderr), prints "sent N commands" on out,
 * and with wait, waits up to timeout_ms for the outcomes and prints the summary. Returns true
 * when everything was delivered and, with wait, every command succeeded. */
bool sender_finish(struct sender *s, long timeout_ms, FILE *out);

#endif
