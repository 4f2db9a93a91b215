/* libFuzzer target for CloudEvents binary mode in common/validate: headers ("name=value" lines
 * up to an empty line) and a value (the rest) must convert without leak, overread or undefined
 * behaviour, and an event that parses must hold exactly the attributes the headers give — the
 * value can never add one of its own. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "validate.h"

#define MAXH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits data into header lines and the value; the names are copied NUL-terminated. */
static size_t
split(const char *d, size_t size, struct ce_header *h, char names[MAXH][64], const char **value,
      size_t *vlen)
{
	size_t n = 0, i = 0;

	while (i < size && n < MAXH) {
		const char *nl = memchr(d + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - d) : size;
		const char *eq = memchr(d + i, '=', end - i);

		if (end == i) { /* empty line: the value follows */
			i++;
			break;
		}
		if (eq != NULL && (size_t)(eq - (d + i)) < 64) {
			memcpy(names[n], d + i, (size_t)(eq - (d + i)));
			names[n][eq - (d + i)] = '\0';
			h[n] = (struct ce_header){names[n], eq + 1, end - (size_t)(eq + 1 - d)};
			n++;
		}
		i = end + 1;
	}
	*value = i < size ? d + i : NULL;
	*vlen = i < size ? size - i : 0;
	return n;
}

/* Whether key is an attribute the headers give. */
static int
from_headers(const struct ce_header *h, size_t n, const char *key)
{
	if (strcmp(key, "data") == 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(h[i].name, "ce_", 3) == 0 && strcmp(h[i].name + 3, key) == 0)
			return 1;
		if (strcasecmp(h[i].name, "content-type") == 0 &&
		    strcmp(key, "datacontenttype") == 0)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ce_header h[MAXH];
	char names[MAXH][64];
	struct validate_errors errs;
	struct command *cmd = NULL;
	const char *value, *key;
	enum validate_status st;
	size_t n, vlen, tlen;
	char *text;
	json_t *v;

	n = split((const char *)data, size, h, names, &value, &vlen);
	(void)command_is_binary(h, n);
	st = command_binary_text(h, n, value, vlen, &text, &tlen, &errs);
	if ((st == VALIDATE_OK) != (text != NULL) || !validate_status_name(st))
		abort();
	if (text == NULL)
		return 0;
	if (text[tlen] != '\0' || tlen > VALIDATE_MAX_BYTES + 1)
		abort();
	st = command_parse(text, tlen, &cmd, &errs);
	if (cmd != NULL) {
		json_object_foreach(cmd->root, key, v) if (!from_headers(h, n, key)) abort();
	}
	command_free(cmd);
	free(text);
	return 0;
}
