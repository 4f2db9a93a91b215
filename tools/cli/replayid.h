/* replayid: the ids `tmprov replay` gives: ROOT.rN, where ROOT is the id first sent (a replay
 * of a replay counts from the same root) and N numbers its replays, so one id still means one
 * outcome and the ids show the history. A root too long to take the suffix is replaced by
 * "replay-" and 40 hex digits of its sha256. */
#ifndef TMPROV_REPLAYID_H
#define TMPROV_REPLAYID_H

#include <stddef.h>

#define REPLAYID_MAX 128 /* common.json event_id */

/* What every replay id of root starts with ("ROOT.r"). */
void replayid_prefix(const char *root, char *out, size_t outlen);
/* N when id is replay N of root, 0 when id is root itself, -1 otherwise. */
long replayid_index(const char *root, const char *id);
/* The id of replay n of root. */
void replayid_make(const char *root, long n, char *out, size_t outlen);
/* When id has the form ROOT.rN (N from 1): ROOT into out and N returned; otherwise 0 (id is
 * a root, or a replay id of the hashed form, whose root the id does not show). */
long replayid_root_of(const char *id, char *out, size_t outlen);

#endif
