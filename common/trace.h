/* trace: W3C Trace Context (traceparent) for commands — parsing and validating a command's
 * traceparent, a new trace for a command without one, and the traceparent of what the worker
 * produces in its name (same trace id, a span id of its own). */
#ifndef TMPROV_TRACE_H
#define TMPROV_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define TRACE_ID_HEX	32
#define TRACE_SPAN_HEX	16
#define TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

struct trace {
	char trace_id[TRACE_ID_HEX + 1];
	char parent_id[TRACE_SPAN_HEX + 1]; /* the caller's span; "" for a new trace */
	char flags[3];			    /* trace-flags, two lowercase hex digits */
};

/* Parses a traceparent (W3C Trace Context, level 1): version 00 exactly
 * "00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not all zeros; a later version (not ff) is read
 * by its first 55 characters when what follows starts with '-'. 0, or -1 when s is not one. */
int trace_parse(const char *s, size_t len, struct trace *out);
/* A new trace: 16 random bytes (libsodium) as the trace id, no parent, flags 00. */
void trace_new(struct trace *out);
/* The traceparent of something the worker does or produces within t: version 00, t's trace id
 * and flags, a new random span id. out must hold TRACEPARENT_LEN + 1 bytes. */
void trace_child(const struct trace *t, char out[TRACEPARENT_LEN + 1]);

#endif
