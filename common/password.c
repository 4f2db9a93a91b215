/* password: the credential TM sends at login (Section 6: a hash of the user's password, never
 * the password) and the argon2id verifier we keep of it — made by the worker, checked by the
 * callback server in constant time. */
#include "password.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argon2id.h"
#include "cfgkeys.h"
#include "clock.h"
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

/* argon2id's memory, kept between hashes (argon2id.h) rather than mapped afresh for each: one
 * per hash running at once, the most recently used first; password_arenas_trim unmaps those
 * left idle. */
#define PASSWORD_TAG_BYTES 32 /* what libsodium's crypto_pwhash_str stores */

struct arena {
	struct argon2id_mem mem;
	long idle_since_ms;
	struct arena *next;
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct arena *arenas_idle;
static size_t arenas_mapped;

static void
arena_free(struct arena *a)
{
	argon2id_mem_free(&a->mem);
	free(a);
}

/* An idle arena for memlimit, or a new one; NULL when memory ran out. */
static struct arena *
arena_take(size_t memlimit)
{
	struct arena *a, *stale = NULL;

	pthread_mutex_lock(&arena_lock);
	a = arenas_idle;
	if (a != NULL) {
		arenas_idle = a->next;
		if (a->mem.nblocks != argon2id_blocks(memlimit)) {
			stale = a; /* another cost: only the tests change it (not reloadable) */
			a = NULL;
			arenas_mapped--;
		}
	}
	pthread_mutex_unlock(&arena_lock);
	if (stale != NULL)
		arena_free(stale);
	if (a != NULL)
		return a;
	a = calloc(1, sizeof(*a));
	if (a == NULL || argon2id_mem_init(&a->mem, memlimit) != 0) {
		free(a);
		return NULL;
	}
	pthread_mutex_lock(&arena_lock);
	arenas_mapped++;
	pthread_mutex_unlock(&arena_lock);
	return a;
}

static void
arena_put(struct arena *a)
{
	a->idle_since_ms = clock_now_ms();
	pthread_mutex_lock(&arena_lock);
	a->next = arenas_idle;
	arenas_idle = a;
	pthread_mutex_unlock(&arena_lock);
}

size_t
password_arenas_trim(long idle_ms)
{
	struct arena *a, **link, *gone = NULL;
	long now = clock_now_ms();
	size_t left;

	pthread_mutex_lock(&arena_lock);
	for (link = &arenas_idle; (a = *link) != NULL;) {
		if (now - a->idle_since_ms >= idle_ms) {
			*link = a->next;
			a->next = gone;
			gone = a;
			arenas_mapped--;
		} else {
			link = &a->next;
		}
	}
	left = arenas_mapped;
	pthread_mutex_unlock(&arena_lock);
	while ((a = gone) != NULL) {
		gone = a->next;
		arena_free(a);
	}
	return left;
}

/* libsodium's PHC string of a tag: "$argon2id$v=19$m=KIB,t=PASSES,p=1$SALT$TAG" (base64
 * without padding). */
static int
phc_encode(char out[PASSWORD_VERIFIER_MAX], const struct password_opts *opts,
	   const unsigned char *salt, size_t saltlen, const unsigned char *tag, size_t taglen)
{
	const int v = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	int n = snprintf(out, PASSWORD_VERIFIER_MAX, "$argon2id$v=19$m=%zu,t=%llu,p=1$",
			 opts->memlimit / 1024, opts->opslimit);
	size_t len = (size_t)n;

	if (n < 0 ||
	    len + sodium_base64_ENCODED_LEN(saltlen, v) + 1 + sodium_base64_ENCODED_LEN(taglen, v) >
		PASSWORD_VERIFIER_MAX)
		return -1;
	sodium_bin2base64(out + len, PASSWORD_VERIFIER_MAX - len, salt, saltlen, v);
	len += strlen(out + len);
	out[len++] = '$';
	sodium_bin2base64(out + len, PASSWORD_VERIFIER_MAX - len, tag, taglen, v);
	return 0;
}

/* password_verifier_new in an arena: what libsodium would make, without mapping (and the kernel
 * zeroing) memlimit bytes per hash. */
static int
verifier_in_arena(const struct password_opts *opts, const char *credential,
		  char out[PASSWORD_VERIFIER_MAX])
{
	unsigned char salt[crypto_pwhash_SALTBYTES], tag[PASSWORD_TAG_BYTES];
	struct arena *a = arena_take(opts->memlimit);
	int rc;

	_Static_assert(crypto_pwhash_SALTBYTES == ARGON2ID_SALT_BYTES, "salt size");
	if (a == NULL)
		return -1;
	randombytes_buf(salt, sizeof(salt));
	rc = argon2id_hash(tag, sizeof(tag), credential, strlen(credential), salt,
			   (uint32_t)opts->opslimit, opts->memlimit, &a->mem);
	arena_put(a);
	if (rc == 0)
		rc = phc_encode(out, opts, salt, sizeof(salt), tag, sizeof(tag));
	sodium_memzero(tag, sizeof(tag));
	return rc;
}

/* libsodium's own: fresh memory for each hash. */
static int
verifier_libsodium(const struct password_opts *opts, const char *credential,
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

int
password_verifier_new(const struct password_opts *opts, const char *credential,
		      char out[PASSWORD_VERIFIER_MAX])
{
	/* libsodium refuses the costs argon2id.h does not take (more passes than 32 bits hold). */
	if (argon2id_available() && opts->opslimit >= 1 && opts->opslimit <= UINT32_MAX)
		return verifier_in_arena(opts, credential, out);
	return verifier_libsodium(opts, credential, out);
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
		/* Made once: no arena is kept for it. */
		if (verifier_libsodium(opts, hex, dummy_verifier) != 0)
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
