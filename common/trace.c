/* trace: W3C traceparent parsing and new trace and span ids (see trace.h). Ids come from
 * libsodium's randombytes: unpredictable, so one trace cannot be guessed from another. */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static bool
lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
all_zeros(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

int
trace_parse(const char *s, size_t len, struct trace *out)
{
	/* version "-" trace-id "-" parent-id "-" flags */
	if (s == NULL || len < TRACEPARENT_LEN || !lower_hex(s, 2) || s[2] != '-' || s[35] != '-' ||
	    s[52] != '-')
		return -1;
	if (strncmp(s, "ff", 2) == 0)
		return -1;
	/* Version 00 is exactly this long; a later one may carry more after a '-'. */
	if (len > TRACEPARENT_LEN && (strncmp(s, "00", 2) == 0 || s[TRACEPARENT_LEN] != '-'))
		return -1;
	if (!lower_hex(s + 3, TRACE_ID_HEX) || all_zeros(s + 3, TRACE_ID_HEX) ||
	    !lower_hex(s + 36, TRACE_SPAN_HEX) || all_zeros(s + 36, TRACE_SPAN_HEX) ||
	    !lower_hex(s + 53, 2))
		return -1;
	memcpy(out->trace_id, s + 3, TRACE_ID_HEX);
	out->trace_id[TRACE_ID_HEX] = '\0';
	memcpy(out->parent_id, s + 36, TRACE_SPAN_HEX);
	out->parent_id[TRACE_SPAN_HEX] = '\0';
	memcpy(out->flags, s + 53, 2);
	out->flags[2] = '\0';
	return 0;
}

/* n random bytes as 2n lowercase hex digits, never all zeros (an invalid id). */
static void
random_hex(char *out, size_t n)
{
	unsigned char b[16];

	do
		randombytes_buf(b, n);
	while (sodium_is_zero(b, n));
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

void
trace_new(struct trace *out)
{
	random_hex(out->trace_id, TRACE_ID_HEX / 2);
	out->parent_id[0] = '\0';
	/* Not sampled: the worker records no spans, so it does not ask anyone downstream to. */
	memcpy(out->flags, "00", 3);
}

void
trace_child(const struct trace *t, char out[TRACEPARENT_LEN + 1])
{
	char span[TRACE_SPAN_HEX + 1];

	random_hex(span, TRACE_SPAN_HEX / 2);
	snprintf(out, TRACEPARENT_LEN + 1, "00-%s-%s-%s", t->trace_id, span, t->flags);
}
