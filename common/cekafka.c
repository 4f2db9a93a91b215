/* cekafka: CloudEvents Kafka binding on a consumed message (see cekafka.h). */
#include "cekafka.h"

#include <stdlib.h>
#include <string.h>

enum validate_status
cekafka_text(const rd_kafka_headers_t *h, const char *value, size_t len, char **text,
	     size_t *textlen, bool *binary, struct validate_errors *errs)
{
	size_t n = h ? rd_kafka_header_cnt(h) : 0;
	struct ce_header *ce = NULL;
	enum validate_status st = VALIDATE_OK;
	const char *name;
	const void *val;
	size_t vlen;

	*text = NULL;
	*textlen = 0;
	*binary = false;
	if (n == 0)
		return VALIDATE_OK;
	ce = calloc(n, sizeof(*ce));
	if (ce == NULL)
		abort(); /* as command_parse: running out says nothing about the message */
	for (size_t i = 0; i < n && rd_kafka_header_get_all(h, i, &name, &val, &vlen) ==
					RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++)
		ce[i] = (struct ce_header){name, val, val ? vlen : 0};
	*binary = command_is_binary(ce, n);
	if (*binary)
		st = command_binary_text(ce, n, value, len, text, textlen, errs);
	free(ce);
	return st;
}

bool
cekafka_header(const rd_kafka_headers_t *h, const char *name, char *out, size_t outlen)
{
	const void *v;
	size_t len;

	if (h == NULL ||
	    rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    v == NULL || len >= outlen || memchr(v, '\0', len) != NULL)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}
