/* replayid: the ids `tmprov replay` gives: ROOT.rN, where ROOT is the id first sent (a replay
 * of a replay counts from the same root) and N numbers its replays, so one id still means one
 * outcome and the ids show the history. A root too long to take the suffix is replaced by
 * "replay-" and 40 hex digits of its sha256. `tmprov resolve` numbers its resolutions the same
 * way, so that a replay after a resolution is skipped. */
#ifndef TMPROV_REPLAYID_H
#define TMPROV_REPLAYID_H

#include <stddef.h>

#include "db.h"

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

/* The highest replay number of root in the database (0: none), with that replay's id and
 * status when there is one (latest and status "" otherwise). -1 with err on a database
 * error. */
long replayid_latest(struct db *db, const char *root, char *latest, size_t latestlen, char *status,
		     size_t statuslen, char *err, size_t errlen);

/* The command message body (len bytes) under new_id with the extension attribute
 * replayof=root, the rest unchanged; malloc'd, or NULL when it is not a valid command then. */
char *replayid_body(const char *body, size_t len, const char *new_id, const char *root);

#endif
