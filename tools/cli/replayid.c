/* replayid: ROOT.rN with N in decimal, at most REPLAYID_DIGITS digits. */
#include "replayid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

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
