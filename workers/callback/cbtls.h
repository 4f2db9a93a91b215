/* cbtls: the callback's TLS certificate and private key, read from their PEM files at start-up
 * and checked as a pair with GnuTLS (what libmicrohttpd serves them with); the key is wiped. */
#ifndef CALLBACK_CBTLS_H
#define CALLBACK_CBTLS_H

#include <stddef.h>

struct cbtls {
	char *cert; /* PEM text; NULL: TLS is off */
	char *key;  /* PEM text of the private key: a secret, never logged */
	size_t key_len;
};

/* Reads both files (both paths NULL or empty: TLS off, 0). -1 with err and *bad_key (the
 * setting to blame) when only one is set, a file cannot be read, or the two are not a usable
 * certificate and matching unencrypted key. The contents never appear in err. */
int cbtls_load(struct cbtls *t, const char *cert_path, const char *key_path, const char **bad_key,
	       char *err, size_t errlen);
/* Wipes the key and frees both; t itself stays the caller's. */
void cbtls_free(struct cbtls *t);

#endif
