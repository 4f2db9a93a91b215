/* password: the credential TM sends at login (Section 6: a hash of the user's password, never
 * the password) and the argon2id verifier we keep of it — made by the worker, checked by the
 * callback server in constant time. */
#ifndef TMPROV_PASSWORD_H
#define TMPROV_PASSWORD_H

#include <stddef.h>

#include "config.h"

/* What TM sends in place of the password; agreed with RHUB per partner. */
enum password_scheme {
	PASSWORD_SHA256_HEX,	  /* lowercase hex of SHA-256(password) */
	PASSWORD_SHA512_HEX,	  /* lowercase hex of SHA-512(password) */
	PASSWORD_HMAC_SHA256_HEX, /* lowercase hex of HMAC-SHA-256(key, password) */
	PASSWORD_PLAIN,		  /* the password itself: development and tests only */
};

struct password_opts {
	enum password_scheme scheme;
	const char *key;	     /* PASSWORD_HMAC_SHA256_HEX only; borrowed */
	unsigned long long opslimit; /* argon2id passes */
	size_t memlimit;	     /* argon2id memory in bytes */
	/* The costliest stored verifier accepted (TMPROV_ARGON2_DIGEST_MAX_*); the two above are
	 * always accepted too. 0: only those. */
	unsigned long long max_opslimit;
	size_t max_memlimit;
};

/* A verifier is libsodium's argon2id PHC string ("$argon2id$v=19$m=…"), < 128 bytes. */
#define PASSWORD_VERIFIER_MAX 128

extern const struct cfg_key *const PASSWORD_CONFIG_KEYS[];
extern const size_t PASSWORD_CONFIG_NKEYS;

/* Calls sodium_init(); fills opts from TMPROV_PASSWORD_SCHEME, TMPROV_PASSWORD_KEY,
 * TMPROV_ARGON2_OPSLIMIT, TMPROV_ARGON2_MEMLIMIT and TMPROV_ARGON2_DIGEST_MAX_*. Returns 0 or
 * -1 with err set. */
int password_opts_from_cfg(struct password_opts *opts, const struct cfg *c, char *err,
			   size_t errlen);

/* Turns a user's password into the credential TM will send for it. out gets a NUL-terminated
 * string of at most outlen-1 bytes. Returns 0 or -1. */
int password_credential(const struct password_opts *opts, const char *password, char *out,
			size_t outlen);

/* argon2id verifier of a credential, with a fresh random salt. Returns 0 or -1 (out of memory:
 * memlimit could not be allocated). Where argon2id.h runs, the hash fills memory kept for the
 * next (one memlimit per hash running at once) instead of mapping it afresh: see
 * password_arenas_trim. Thread-safe. */
int password_verifier_new(const struct password_opts *opts, const char *credential,
			  char out[PASSWORD_VERIFIER_MAX]);

/* Unmaps the memory of password_verifier_new's hashes that has not been used for idle_ms
 * (0: all not in use). Returns how many memlimits stay mapped. Thread-safe. */
size_t password_arenas_trim(long idle_ms);

/* 1 if credential matches verifier, else 0. Runs the full hash either way; for an unknown user
 * pass verifier NULL: a fixed dummy verifier of the same cost is checked instead, so unknown users
 * and wrong passwords take the same time. A verifier costlier than opts allow
 * (password_verifier_within) is not checked: the dummy is, and 0 is returned. */
int password_verify(const struct password_opts *opts, const char *verifier, const char *credential);

/* 1 if s is a well-formed argon2id verifier (what a user.upsert password_digest must be). */
int password_verifier_valid(const char *s);

/* 1 if the well-formed verifier s costs no more than opts allow: memory (m) at most
 * max(max_memlimit, memlimit) and passes (t) at most max(max_opslimit, opslimit). Otherwise 0,
 * with why set to "argon2id memory m=… KiB is over TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT (… KiB)"
 * or the passes' equivalent (no secret: the cost parameters only). */
int password_verifier_within(const struct password_opts *opts, const char *s, char *why,
			     size_t whylen);

#endif
