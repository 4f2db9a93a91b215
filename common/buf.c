/* buf: a growable byte buffer with a hard ceiling, in the manner of curl's dynbuf; every buffer
 * fed from outside input is one of these, so "too large" is a distinct, testable error. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Makes room for len more bytes plus the terminating NUL. */
static int
buf_grow(struct buf *b, size_t len)
{
	size_t need, size;
	char *p;

	if (len > b->max || b->len > b->max - len)
		return BUF_TOO_LARGE;
	need = b->len + len + 1;
	if (need <= b->alloc)
		return BUF_OK;
	size = b->alloc ? b->alloc : 256;
	while (size < need)
		size *= 2;
	if (size > b->max + 1)
		size = b->max + 1;
	if ((p = realloc(b->data, size)) == NULL)
		return BUF_NOMEM;
	b->data = p;
	b->alloc = size;
	return BUF_OK;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	int rc = buf_grow(b, len);

	if (rc != BUF_OK)
		return rc;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return BUF_OK;
}

int
buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return BUF_NOMEM;
	if ((rc = buf_grow(b, (size_t)n)) != BUF_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return BUF_OK;
}

char *
buf_take(struct buf *b, size_t *len)
{
	char *data = b->data;

	if (len != NULL)
		*len = b->len;
	buf_init(b, b->max);
	return data;
}
