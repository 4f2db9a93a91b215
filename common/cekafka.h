/* cekafka: the CloudEvents Kafka protocol binding on a consumed message — a binary-mode command
 * turned into its structured text (validate.h: one validation path for both modes), and one
 * header's value — for the worker and for `tmprov replay`. */
#ifndef TMPROV_CEKAFKA_H
#define TMPROV_CEKAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "validate.h"

/* The structured-mode text of a message with headers h (may be NULL) and value[0..len): for a
 * binary-mode message (command_is_binary) *text is the event command_binary_text makes
 * (malloc'd) and *binary true; otherwise *text is NULL (the value is the text) and *binary
 * false. Returns VALIDATE_OK, or the verdict that stopped the conversion (errs says why). */
enum validate_status cekafka_text(const rd_kafka_headers_t *h, const char *value, size_t len,
				  char **text, size_t *textlen, bool *binary,
				  struct validate_errors *errs);

/* The last value of header name as a NUL-terminated copy in out (at most outlen - 1 bytes; a
 * longer or NUL-holding value counts as absent). true when found. */
bool cekafka_header(const rd_kafka_headers_t *h, const char *name, char *out, size_t outlen);

#endif
