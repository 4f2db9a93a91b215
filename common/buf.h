/* buf: a growable byte buffer with a hard ceiling, in the manner of curl's dynbuf; every buffer
 * fed from outside input is one of these, so "too large" is a distinct, testable error. */
#ifndef TMPROV_BUF_H
#define TMPROV_BUF_H

#include <stddef.h>

enum { BUF_OK = 0, BUF_NOMEM = -1, BUF_TOO_LARGE = -2 };

struct buf {
	char *data; /* always NUL-terminated once anything was appended */
	size_t len;
	size_t alloc;
	size_t max; /* len never exceeds this */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);  /* releases data; the buf can be reused after buf_init */
void buf_reset(struct buf *b); /* empties it, keeps the memory */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_appends(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (who frees it) and leaves b empty. */
char *buf_take(struct buf *b, size_t *len);

#endif
