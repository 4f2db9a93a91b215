/* replayid: ROOT.rN with N in decimal, at most REPLAYID_DIGITS digits. */
#include "replayid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "clisql.h"
#include "validate.h"

#define REPLAYID_DIGITS	  6
#define REPLAYID_ROOT_MAX (REPLAYID_MAX - 2 - REPLAYID_DIGITS)

void
replayid_prefix(const char *root, char *out, size_t outlen)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	if (strlen(root) <= REPLAYID_ROOT_MAX) {
		snprintf(out, outlen, "%s.r", root);
		return;
	}
	crypto_hash_sha256(sum, (const unsigned char *)root, strlen(root));
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	snprintf(out, outlen, "replay-%.40s.r", hex);
}

/* The number after prefix in id, or -1 when id is not prefix followed by 1-6 digits. */
static long
replayid_suffix(const char *id, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *d = id + n;

	if (strncmp(id, prefix, n) != 0 || d[0] < '1' || d[0] > '9' ||
	    strspn(d, "0123456789") != strlen(d) || strlen(d) > REPLAYID_DIGITS)
		return -1;
	return strtol(d, NULL, 10);
}

long
replayid_index(const char *root, const char *id)
{
	char prefix[REPLAYID_MAX + 1];

	if (strcmp(root, id) == 0)
		return 0;
	replayid_prefix(root, prefix, sizeof(prefix));
	return replayid_suffix(id, prefix);
}

void
replayid_make(const char *root, long n, char *out, size_t outlen)
{
	char prefix[REPLAYID_MAX + 1];

	replayid_prefix(root, prefix, sizeof(prefix));
	snprintf(out, outlen, "%s%ld", prefix, n);
}

long
replayid_root_of(const char *id, char *out, size_t outlen)
{
	const char *dot = strrchr(id, '.');
	size_t rootlen;
	long n;

	if (dot == NULL || dot[1] != 'r' || dot == id)
		return 0;
	rootlen = (size_t)(dot - id);
	if (rootlen > REPLAYID_ROOT_MAX || rootlen + 1 > outlen)
		return 0;
	snprintf(out, outlen, "%.*s", (int)rootlen, id);
	n = replayid_index(out, id);
	return n > 0 ? n : 0;
}

long
replayid_latest(struct db *db, const char *root, char *latest, size_t latestlen, char *status,
		size_t statuslen, char *err, size_t errlen)
{
	char prefix[REPLAYID_MAX + 1];
	const char *params[1] = {prefix};
	PGresult *res;
	long max = 0;

	latest[0] = status[0] = '\0';
	replayid_prefix(root, prefix, sizeof(prefix));
	res = db_exec(db, CLISQL_PREFIXED, 1, params, err, errlen);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		long n = replayid_index(root, PQgetvalue(res, i, 0));

		if (n > max) {
			max = n;
			snprintf(latest, latestlen, "%s", PQgetvalue(res, i, 0));
			snprintf(status, statuslen, "%s", PQgetvalue(res, i, 1));
		}
	}
	PQclear(res);
	return max;
}

char *
replayid_body(const char *body, size_t len, const char *new_id, const char *root)
{
	json_t *doc = json_loadb(body, len, 0, NULL);
	struct command *cmd = NULL;
	char *text = NULL;

	if (doc == NULL || json_object_set_new(doc, "id", json_string(new_id)) != 0 ||
	    json_object_set_new(doc, "replayof", json_string(root)) != 0 ||
	    (text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    command_parse(text, strlen(text), &cmd, NULL) != VALIDATE_OK) {
		free(text);
		text = NULL;
	}
	command_free(cmd);
	json_decref(doc);
	return text;
}
