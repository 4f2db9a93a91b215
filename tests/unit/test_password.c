/* Tests for common/password: each credential scheme against known digests, argon2id verifiers
 * that accept the right credential only, the unknown-user path, and verifier validation. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "argon2id.h"
#include "cfgkeys.h"
#include "password.h"

/* Cheap parameters: the tests check behaviour, not cost. */
static struct password_opts opts = {PASSWORD_SHA256_HEX, NULL, 1, 8192, 0, 0};

static void
test_schemes(void **state)
{
	static const struct {
		enum password_scheme scheme;
		const char *key, *password, *want;
	} cases[] = {
	    {PASSWORD_SHA256_HEX, NULL, "password",
	     "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"},
	    {PASSWORD_SHA256_HEX, NULL, "",
	     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {PASSWORD_SHA512_HEX, NULL, "abc",
	     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
	    /* RFC 4231 test case 2 */
	    {PASSWORD_HMAC_SHA256_HEX, "Jefe", "what do ya want for nothing?",
	     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	    {PASSWORD_PLAIN, NULL, "s3cret pass", "s3cret pass"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct password_opts o = {cases[i].scheme, cases[i].key, 1, 8192, 0, 0};
		char out[160];

		assert_int_equal(password_credential(&o, cases[i].password, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_credential_buffer_too_small(void **state)
{
	char out[64]; /* SHA-256 hex needs 65 */

	(void)state;
	assert_int_equal(password_credential(&opts, "x", out, sizeof(out)), -1);
	opts.scheme = PASSWORD_PLAIN;
	assert_int_equal(password_credential(&opts, "0123456789", out, 10), -1);
	opts.scheme = PASSWORD_SHA256_HEX;
}

static void
test_verifier_round_trip(void **state)
{
	char v1[PASSWORD_VERIFIER_MAX], v2[PASSWORD_VERIFIER_MAX];

	(void)state;
	assert_int_equal(password_verifier_new(&opts, "cred-1", v1), 0);
	assert_int_equal(password_verifier_new(&opts, "cred-1", v2), 0);
	assert_int_equal(strncmp(v1, "$argon2id$v=19$m=8,t=1,p=1$", 27), 0);
	assert_string_not_equal(v1, v2); /* fresh salt each time */
	assert_null(strstr(v1, "cred-1"));
	assert_true(password_verifier_valid(v1));
	assert_int_equal(password_verify(&opts, v1, "cred-1"), 1);
	assert_int_equal(password_verify(&opts, v2, "cred-1"), 1);
	assert_int_equal(password_verify(&opts, v1, "cred-2"), 0);
	assert_int_equal(password_verify(&opts, v1, ""), 0);
	assert_int_equal(password_verify(&opts, v1, "cred-1 "), 0);
}

/* A verifier is libsodium's, whichever hash made it (argon2id.h in memory kept between
 * hashes where it runs): libsodium checks it and finds nothing to rehash at the same cost. */
static void
test_verifier_is_libsodiums(void **state)
{
	struct password_opts o = opts;
	char v[PASSWORD_VERIFIER_MAX];

	(void)state;
	o.opslimit = 2;
	o.memlimit = 9 * 1024 + 512; /* m=9: hashed as given, the lane rounded down to 8 */
	assert_int_equal(password_verifier_new(&o, "cred-3", v), 0);
	assert_int_equal(strncmp(v, "$argon2id$v=19$m=9,t=2,p=1$", 27), 0);
	assert_int_equal(crypto_pwhash_str_verify(v, "cred-3", 6), 0);
	assert_int_not_equal(crypto_pwhash_str_verify(v, "cred-4", 6), 0);
	assert_int_equal(crypto_pwhash_str_needs_rehash(v, o.opslimit, o.memlimit), 0);
	assert_true(password_verifier_valid(v));
}

/* The memory of a hash stays mapped for the next until it has been idle that long. */
static void
test_arenas_trimmed(void **state)
{
	char v[PASSWORD_VERIFIER_MAX];
	size_t kept;

	(void)state;
	password_arenas_trim(0);
	assert_int_equal(password_verifier_new(&opts, "cred-5", v), 0);
	kept = password_arenas_trim(60000);
	/* None without AVX2: libsodium maps its own each time. */
	assert_int_equal(kept, argon2id_available() ? 1 : 0);
	assert_int_equal(password_verifier_new(&opts, "cred-5", v), 0);
	assert_int_equal(password_arenas_trim(60000), kept); /* reused, not a second */
	assert_int_equal(password_arenas_trim(0), 0);
	assert_int_equal(password_verify(&opts, v, "cred-5"), 1);
}

/* A cost libsodium refuses is refused (argon2id.h takes passes in 32 bits: not cut short). */
static void
test_verifier_cost_refused(void **state)
{
	struct password_opts o = opts;
	char v[PASSWORD_VERIFIER_MAX];

	(void)state;
	o.opslimit = (1ULL << 32) + 2;
	assert_int_equal(password_verifier_new(&o, "cred-6", v), -1);
	o.opslimit = 0;
	assert_int_equal(password_verifier_new(&o, "cred-6", v), -1);
}

/* Hashes of another cost do not use memory kept for the first. */
static void
test_arena_of_another_cost(void **state)
{
	struct password_opts o = opts;
	char v[PASSWORD_VERIFIER_MAX];

	(void)state;
	password_arenas_trim(0);
	assert_int_equal(password_verifier_new(&opts, "cred-7", v), 0);
	o.memlimit = 16384;
	assert_int_equal(password_verifier_new(&o, "cred-7", v), 0);
	assert_int_equal(strncmp(v, "$argon2id$v=19$m=16,t=1,p=1$", 27), 0);
	assert_int_equal(crypto_pwhash_str_verify(v, "cred-7", 6), 0);
	/* The first cost's memory was dropped for the second's, not kept beside it. */
	assert_int_equal(password_arenas_trim(60000), argon2id_available() ? 1 : 0);
	password_arenas_trim(0);
}

#define HASHERS 4

struct hasher {
	pthread_t tid;
	char cred[16];
	int bad;
};

static void *
hasher_main(void *arg)
{
	struct hasher *h = arg;
	char v[PASSWORD_VERIFIER_MAX];

	for (int i = 0; i < 5; i++)
		h->bad += password_verifier_new(&opts, h->cred, v) != 0 ||
			  crypto_pwhash_str_verify(v, h->cred, strlen(h->cred)) != 0;
	return NULL;
}

/* Hashes at once each get their own memory (verifiers right), at most one per hash. */
static void
test_hashes_at_once(void **state)
{
	struct hasher h[HASHERS];

	(void)state;
	password_arenas_trim(0);
	for (int i = 0; i < HASHERS; i++) {
		h[i].bad = 0;
		snprintf(h[i].cred, sizeof(h[i].cred), "cred-at-once-%d", i);
		assert_int_equal(pthread_create(&h[i].tid, NULL, hasher_main, &h[i]), 0);
	}
	for (int i = 0; i < HASHERS; i++) {
		pthread_join(h[i].tid, NULL);
		assert_int_equal(h[i].bad, 0);
	}
	assert_in_range(password_arenas_trim(60000), argon2id_available() ? 1 : 0,
			argon2id_available() ? HASHERS : 0);
	assert_int_equal(password_arenas_trim(0), 0);
}

static void
test_unknown_user_never_matches(void **state)
{
	(void)state;
	/* Whatever the credential, the dummy verifier path answers "no". */
	assert_int_equal(password_verify(&opts, NULL, "anything"), 0);
	assert_int_equal(password_verify(&opts, NULL, ""), 0);
}

static void
test_verifier_valid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "password",
	    "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
	    "$2b$12$abcdefghijklmnopqrstuuN2mFO0MkB0yGq6mDZhUu3n7Y.2M0CEe",
	    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
	    "$argon2id$v=19$m=8,t=1,p=1$",
	};
	char v[PASSWORD_VERIFIER_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(password_verifier_valid(bad[i]));
	assert_int_equal(password_verifier_new(&opts, "c", v), 0);
	assert_true(password_verifier_valid(v));
}

static void
test_opts_from_cfg(void **state)
{
	struct cfg *c = cfg_new();
	struct password_opts o;
	char err[200] = "";

	(void)state;
	assert_int_equal(cfg_add_keys(c, PASSWORD_CONFIG_KEYS, PASSWORD_CONFIG_NKEYS), 0);
	setenv("TMPROV_PASSWORD_SCHEME", "hmac-sha256-hex", 1);
	unsetenv("TMPROV_PASSWORD_KEY");
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(password_opts_from_cfg(&o, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TMPROV_PASSWORD_KEY"));
	assert_int_equal(cfg_set(c, &KEY_TMPROV_PASSWORD_KEY, "k", err, sizeof(err)), 0);
	assert_int_equal(password_opts_from_cfg(&o, c, err, sizeof(err)), 0);
	assert_int_equal(o.scheme, PASSWORD_HMAC_SHA256_HEX);
	assert_int_equal(o.opslimit, 2);
	assert_int_equal(o.memlimit, 19922944);
	unsetenv("TMPROV_PASSWORD_SCHEME");
	cfg_free(c);
}

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* Defect 9: a verifier costlier than the bounds is refused, naming the bound; the program's own
 * cost is always within them. */
static void
test_verifier_within(void **state)
{
	static const struct {
		const char *params;
		int within;
		const char *names;
	} cases[] = {
	    {"m=65536,t=4,p=1", 1, NULL},
	    {"m=65536,t=4,p=16", 1, NULL},
	    {"m=65537,t=1,p=1", 0, "TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT (65536 KiB)"},
	    {"m=4194304,t=2,p=1", 0, "m=4194304 KiB"},
	    {"m=99999999999999999999999,t=2,p=1", 0, "unreadable"},
	    {"m=8,t=5,p=1", 0, "TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT (4)"},
	    {"m=8,t=4294967296,p=1", 0, "t=4294967296"},
	};
	struct password_opts o = {PASSWORD_SHA256_HEX, NULL, 2, 19922944, 4, 64u << 20};
	char v[256], why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(v, sizeof(v), "$argon2id$v=19$%s$c29tZXNhbHQ$aGFzaA", cases[i].params);
		why[0] = '\0';
		assert_int_equal(password_verifier_within(&o, v, why, sizeof(why)),
				 cases[i].within);
		if (cases[i].names != NULL)
			assert_non_null(strstr(why, cases[i].names));
	}
	/* The own cost counts even when it is over the digest bounds. */
	o.memlimit = 128u << 20;
	o.opslimit = 6;
	assert_int_equal(
	    password_verifier_within(&o, "$argon2id$v=19$m=131072,t=6,p=1$c29tZXNhbHQ$aGFzaA", why,
				     sizeof(why)),
	    1);
}

/* The callback's defence in depth: a stored verifier over the bounds is not checked, even
 * against the right credential (the dummy is checked instead). */
static void
test_verify_refuses_costly_verifier(void **state)
{
	struct password_opts costly = {PASSWORD_SHA256_HEX, NULL, 1, 65536, 0, 0};
	struct password_opts bounded = {PASSWORD_SHA256_HEX, NULL, 1, 8192, 1, 32768};
	char v[PASSWORD_VERIFIER_MAX];

	(void)state;
	assert_int_equal(password_verifier_new(&costly, "cred", v), 0);
	assert_int_equal(password_verify(&costly, v, "cred"), 1);
	assert_int_equal(password_verify(&bounded, v, "cred"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schemes),
	    cmocka_unit_test(test_credential_buffer_too_small),
	    cmocka_unit_test(test_verifier_round_trip),
	    cmocka_unit_test(test_verifier_is_libsodiums),
	    cmocka_unit_test(test_arenas_trimmed),
	    cmocka_unit_test(test_verifier_cost_refused),
	    cmocka_unit_test(test_arena_of_another_cost),
	    cmocka_unit_test(test_hashes_at_once),
	    cmocka_unit_test(test_unknown_user_never_matches),
	    cmocka_unit_test(test_verifier_valid),
	    cmocka_unit_test(test_verifier_within),
	    cmocka_unit_test(test_verify_refuses_costly_verifier),
	    cmocka_unit_test(test_opts_from_cfg),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
