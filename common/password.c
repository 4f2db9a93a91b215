/* password: the credential TM sends at login (Section 6: a hash of the user's password, never
 * the password) and the argon2id verifier we keep of it — made by the worker, checked by the
 * callback server in constant time. */
#include "password.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgkeys.h"
#include "log.h"

const struct cfg_key *const PASSWORD_CONFIG_KEYS[] = {
    &KEY_TMPROV_PASSWORD_SCHEME,
    &KEY_TMPROV_PASSWORD_KEY,
    &KEY_TMPROV_ARGON2_OPSLIMIT,
    &KEY_TMPROV_ARGON2_MEMLIMIT,
    &KEY_TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT,
    &KEY_TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT,
};
const size_t PASSWORD_CONFIG_NKEYS = CFG_KEYS_LEN(PASSWORD_CONFIG_KEYS);

int
password_opts_from_cfg(struct password_opts *opts, const struct cfg *c, char *err, size_t errlen)
{
	const char *scheme = cfg_str(c, &KEY_TMPROV_PASSWORD_SCHEME);

	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	if (strcmp(scheme, "sha256-hex") == 0)
		opts->scheme = PASSWORD_SHA256_HEX;
	else if (strcmp(scheme, "sha512-hex") == 0)
		opts->scheme = PASSWORD_SHA512_HEX;
	else if (strcmp(scheme, "hmac-sha256-hex") == 0)
		opts->scheme = PASSWORD_HMAC_SHA256_HEX;
	else
		opts->scheme = PASSWORD_PLAIN;
	opts->key = cfg_str(c, &KEY_TMPROV_PASSWORD_KEY);
	if (opts->scheme == PASSWORD_HMAC_SHA256_HEX && (opts->key == NULL || *opts->key == '\0')) {
		snprintf(err, errlen, "TMPROV_PASSWORD_KEY: required by hmac-sha256-hex");
		return -1;
	}
	opts->opslimit = (unsigned long long)cfg_int(c, &KEY_TMPROV_ARGON2_OPSLIMIT);
	opts->memlimit = (size_t)cfg_int(c, &KEY_TMPROV_ARGON2_MEMLIMIT);
	opts->max_opslimit = (unsigned long long)cfg_int(c, &KEY_TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT);
	opts->max_memlimit = (size_t)cfg_int(c, &KEY_TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT);
	return 0;
}

int
password_credential(const struct password_opts *opts, const char *password, char *out,
		    size_t outlen)
{
	unsigned char digest[crypto_hash_sha512_BYTES];
	size_t dlen;

	switch (opts->scheme) {
	case PASSWORD_PLAIN:
		if (strlen(password) >= outlen)
			return -1;
		memcpy(out, password, strlen(password) + 1);
		return 0;
	case PASSWORD_SHA256_HEX:
		crypto_hash_sha256(digest, (const unsigned char *)password, strlen(password));
		dlen = crypto_hash_sha256_BYTES;
		break;
	case PASSWORD_SHA512_HEX:
		crypto_hash_sha512(digest, (const unsigned char *)password, strlen(password));
		dlen = crypto_hash_sha512_BYTES;
		break;
	case PASSWORD_HMAC_SHA256_HEX: {
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, (const unsigned char *)opts->key,
					    strlen(opts->key));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)password,
					      strlen(password));
		crypto_auth_hmacsha256_final(&st, digest);
		dlen = crypto_auth_hmacsha256_BYTES;
		break;
	}
	default:
		return -1;
	}
	if (outlen < dlen * 2 + 1)
		return -1;
	sodium_bin2hex(out, outlen, digest, dlen);
	sodium_memzero(digest, sizeof(digest));
	return 0;
}

int
password_verifier_new(const struct password_opts *opts, const char *credential,
		      char out[PASSWORD_VERIFIER_MAX])
{
	char str[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(str, credential, strlen(credential), opts->opslimit,
				  opts->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -1;
	_Static_assert(crypto_pwhash_STRBYTES <= PASSWORD_VERIFIER_MAX, "verifier buffer");
	memcpy(out, str, sizeof(str));
	return 0;
}

/* The verifier an unknown user's credential is checked against, made on first need with the
 * configured cost so that its check takes as long as a real one. */
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummy_verifier[PASSWORD_VERIFIER_MAX];
static bool dummy_made;

static const char *
dummy_get(const struct password_opts *opts)
{
	pthread_mutex_lock(&dummy_lock);
	if (!dummy_made) {
		unsigned char junk[32];
		char hex[65];

		randombytes_buf(junk, sizeof(junk));
		sodium_bin2hex(hex, sizeof(hex), junk, sizeof(junk));
		if (password_verifier_new(opts, hex, dummy_verifier) != 0)
			dummy_verifier[0] = '\0';
		dummy_made = true;
	}
	pthread_mutex_unlock(&dummy_lock);
	return dummy_verifier;
}

int
password_verify(const struct password_opts *opts, const char *verifier, const char *credential)
{
	int known = verifier != NULL;
	char why[160];

	/* Defence in depth: the worker rejects such a password_digest, but a verifier stored
	 * before the bound (or by hand) must not make each login allocate gigabytes. */
	if (known && !password_verifier_within(opts, verifier, why, sizeof(why))) {
		log_warn("password: stored verifier not checked: %s", why);
		known = 0;
	}
	if (!known)
		verifier = dummy_get(opts);
	if (crypto_pwhash_str_verify(verifier, credential, strlen(credential)) != 0)
		return 0;
	return known;
}

int
password_verifier_valid(const char *s)
{
	size_t len = strlen(s);

	/* Parse check only; the cost parameters are whatever the partner's tooling chose. */
	return len < PASSWORD_VERIFIER_MAX && strncmp(s, "$argon2id$v=19$m=", 17) == 0 &&
	       crypto_pwhash_str_needs_rehash(s, 1, 8192) != -1;
}

/* The number after key (e.g. ",t=") in the PHC string s: 0 and *out set, or -1 when absent or
 * out of range. */
static int
phc_param(const char *s, const char *key, unsigned long long *out)
{
	const char *p = strstr(s, key);
	char *end;

	if (p == NULL || p[strlen(key)] < '0' || p[strlen(key)] > '9')
		return -1;
	errno = 0;
	*out = strtoull(p + strlen(key), &end, 10);
	return errno == 0 ? 0 : -1;
}

int
password_verifier_within(const struct password_opts *opts, const char *s, char *why, size_t whylen)
{
	unsigned long long m_kib, t;
	unsigned long long max_mem =
	    opts->max_memlimit > opts->memlimit ? opts->max_memlimit : opts->memlimit;
	unsigned long long max_ops =
	    opts->max_opslimit > opts->opslimit ? opts->max_opslimit : opts->opslimit;

	/* "$argon2id$v=19$m=M,t=T,p=P$...": m in KiB, as libsodium writes it. */
	if (phc_param(s, "$m=", &m_kib) != 0 || phc_param(s, ",t=", &t) != 0) {
		snprintf(why, whylen, "argon2id cost parameters unreadable");
		return 0;
	}
	if (m_kib > max_mem / 1024) {
		snprintf(why, whylen,
			 "argon2id memory m=%llu KiB is over TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT "
			 "(%llu KiB)",
			 m_kib, max_mem / 1024);
		return 0;
	}
	if (t > max_ops) {
		snprintf(why, whylen,
			 "argon2id passes t=%llu are over TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT (%llu)",
			 t, max_ops);
		return 0;
	}
	return 1;
}
