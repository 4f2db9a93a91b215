/* Tests for common/password: each credential scheme against known digests, argon2id verifiers
 * that accept the right credential only, the unknown-user path, and verifier validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "cfgkeys.h"
#include "password.h"

/* Cheap parameters: the tests check behaviour, not cost. */
static struct password_opts opts = {PASSWORD_SHA256_HEX, NULL, 1, 8192};

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
		struct password_opts o = {cases[i].scheme, cases[i].key, 1, 8192};
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schemes),
	    cmocka_unit_test(test_credential_buffer_too_small),
	    cmocka_unit_test(test_verifier_round_trip),
	    cmocka_unit_test(test_unknown_user_never_matches),
	    cmocka_unit_test(test_verifier_valid),
	    cmocka_unit_test(test_opts_from_cfg),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
