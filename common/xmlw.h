/* xmlw: writes the small XML documents we answer with (TM's <__Return__> shape), escaping
 * every value so that nothing a user typed can change the document's structure. */
#ifndef TMPROV_XMLW_H
#define TMPROV_XMLW_H

#include <stddef.h>

#include "buf.h"

struct xmlw {
	struct buf out;
	int err; /* first BUF_* error; later writes are no-ops once set */
};

/* max: the largest document this writer may produce. Writes the XML declaration. */
void xmlw_init(struct xmlw *w, size_t max);
void xmlw_open(struct xmlw *w, const char *tag);  /* <tag> ; tag is ours, never escaped */
void xmlw_close(struct xmlw *w, const char *tag); /* </tag> */
/* <tag>value</tag>, value escaped; NULL writes an empty element. */
void xmlw_elem(struct xmlw *w, const char *tag, const char *value);
void xmlw_elem_long(struct xmlw *w, const char *tag, long value);
/* Appends text escaped for XML 1.0 character data or attribute values: & < > " ' become
 * entities, characters XML 1.0 forbids and invalid UTF-8 become U+FFFD. */
void xmlw_text(struct xmlw *w, const char *value);
/* Returns the document (caller frees) or NULL on error; resets w. */
char *xmlw_finish(struct xmlw *w, size_t *len, int *err);
void xmlw_free(struct xmlw *w);

#endif
