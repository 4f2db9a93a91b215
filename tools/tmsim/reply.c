/* reply: what a tmsim handler wants sent — status, content type, body, Retry-After, a delay or a
 * dropped connection — and the helpers that fill it; simserver turns it into an answer. */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

void
reply_set(struct reply *rep, int status, const char *content_type, char *body, size_t len)
{
	free(rep->body);
	rep->status = status;
	rep->content_type = content_type;
	rep->body = body;
	rep->len = len;
}

void
reply_text(struct reply *rep, int status, const char *content_type, const char *text)
{
	char *copy = strdup(text);

	if (copy == NULL) {
		reply_set(rep, 500, "text/plain", NULL, 0);
		return;
	}
	reply_set(rep, status, content_type, copy, strlen(copy));
}

void
reply_json(struct reply *rep, int status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL, *grown;
	size_t len;

	json_decref(doc);
	if (text == NULL) {
		reply_text(rep, 500, "text/plain", "out of memory\n");
		return;
	}
	len = strlen(text);
	/* A trailing newline makes the answers pleasant to read with curl. */
	grown = realloc(text, len + 2);
	if (grown != NULL) {
		text = grown;
		text[len++] = '\n';
		text[len] = '\0';
	}
	reply_set(rep, status, "application/json", text, len);
}

void
reply_error(struct reply *rep, int status, const char *message)
{
	reply_json(rep, status, json_pack("{s:s}", "error", message));
}
