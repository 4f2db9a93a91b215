/* xmlw: writes the small XML documents we answer with (TM's <__Return__> shape), escaping
 * every value so that nothing a user typed can change the document's structure.
 *
 * Kept rather than libxml2's xmlTextWriter (2.9.14, already linked), measured on 2026-12-02:
 * xmlTextWriterWriteElement writes a control character XML 1.0 forbids (U+0001) and bytes that
 * are not UTF-8 (0xFF) into the document as they are, and the result no longer parses
 * (xmlReadMemory fails): one meeting topic with such a byte would break TM's reading of the
 * whole list. Here they become U+FFFD (the part of this file that is more than a few lines, and
 * which a writer wrapper would need anyway), and the document has a size ceiling (buf), which
 * xmlBuffer lacks. Speed is no reason either way: 200 lists of 500 meetings (135 KB each) took
 * 0.18-0.34 s with xmlTextWriter and 0.21-0.33 s here on a shared 2-core x86_64. */
#include "xmlw.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

static void
put(struct xmlw *w, const char *s, size_t len)
{
	if (w->err == 0)
		w->err = buf_append(&w->out, s, len);
}

void
xmlw_init(struct xmlw *w, size_t max)
{
	buf_init(&w->out, max);
	w->err = 0;
	put(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. Rejects overlong forms,
 * surrogates and code points above U+10FFFF. */
static size_t
utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* XML 1.0 Char production, less what we escape. */
static int
xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
	       (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
}

/* What is written for cp instead of itself (its length in *len), NULL when cp goes as it is. */
static const char *
escape_of(uint32_t cp, size_t *len)
{
	switch (cp) {
	case '&':
		*len = 5;
		return "&amp;";
	case '<':
		*len = 4;
		return "&lt;";
	case '>':
		*len = 4;
		return "&gt;";
	case '"':
		*len = 6;
		return "&quot;";
	case '\'':
		*len = 6;
		return "&apos;";
	case '\r': /* a literal CR would be read back as LF (XML 1.0 §2.11) */
		*len = 5;
		return "&#13;";
	default:
		*len = 3;
		return xml_char_ok(cp) ? NULL : replacement;
	}
}

/* Characters that go as they are are written in runs, one append each, not one per character
 * (a meeting list is mostly such runs). */
void
xmlw_text(struct xmlw *w, const char *value)
{
	const unsigned char *s = (const unsigned char *)value, *run = s;

	while (*s) {
		uint32_t cp = 0;
		size_t n = utf8_seq(s, &cp), len = 3;
		const char *esc = n == 0 ? replacement : escape_of(cp, &len);

		if (esc == NULL) {
			s += n;
			continue;
		}
		put(w, (const char *)run, (size_t)(s - run));
		put(w, esc, len);
		s += n == 0 ? 1 : n;
		run = s;
	}
	put(w, (const char *)run, (size_t)(s - run));
}

void
xmlw_open(struct xmlw *w, const char *tag)
{
	put(w, "<", 1);
	put(w, tag, strlen(tag));
	put(w, ">", 1);
}

void
xmlw_close(struct xmlw *w, const char *tag)
{
	put(w, "</", 2);
	put(w, tag, strlen(tag));
	put(w, ">", 1);
}

void
xmlw_elem(struct xmlw *w, const char *tag, const char *value)
{
	xmlw_open(w, tag);
	if (value != NULL)
		xmlw_text(w, value);
	xmlw_close(w, tag);
}

void
xmlw_elem_long(struct xmlw *w, const char *tag, long value)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", value);
	xmlw_elem(w, tag, num);
}

char *
xmlw_finish(struct xmlw *w, size_t *len, int *err)
{
	if (err != NULL)
		*err = w->err;
	if (w->err != 0) {
		buf_free(&w->out);
		return NULL;
	}
	return buf_take(&w->out, len);
}

void
xmlw_free(struct xmlw *w)
{
	buf_free(&w->out);
}
