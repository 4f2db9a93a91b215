/* Tests for common/argon2id: the tag is libsodium's crypto_pwhash (argon2id13) for every cost
 * and input shape tried, memory reused across hashes and costs refused, bad parameters refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "argon2id.h"

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void
skip_without_avx2(void)
{
	if (!argon2id_available())
		skip(); /* password.c falls back to libsodium then: test_password covers it */
}

/* Our tag and libsodium's of the same input, for outlen bytes. */
static void
same_as_libsodium(const void *pwd, size_t pwdlen, const uint8_t salt[16], uint32_t t,
		  size_t memlimit, size_t outlen, struct argon2id_mem *mem)
{
	uint8_t ours[64], theirs[64];

	assert_int_equal(crypto_pwhash(theirs, outlen, pwd, pwdlen, salt, t, memlimit,
				       crypto_pwhash_ALG_ARGON2ID13),
			 0);
	assert_int_equal(argon2id_hash(ours, outlen, pwd, pwdlen, salt, t, memlimit, mem), 0);
	if (memcmp(ours, theirs, outlen) != 0) {
		char hex[2 * 1000 + 1];

		print_error("argon2id (instructions %d) differs from libsodium: t=%u memlimit=%zu "
			    "outlen=%zu salt=%s ",
			    (int)argon2id_selected(), t, memlimit, outlen,
			    sodium_bin2hex(hex, sizeof(hex), salt, 16));
		print_error("pwd=%s\n",
			    sodium_bin2hex(hex, sizeof(hex), pwd, pwdlen < 1000 ? pwdlen : 1000));
		fail();
	}
}

/* Costs around the edges: the least memory, sizes not a multiple of four blocks (m is
 * rounded down for the lane but hashed as given), one to three passes, more than one
 * address block per segment (over 512 blocks), the default cost. */
static void
matches_libsodium(void)
{
	skip_without_avx2();
	static const size_t mem[] = {8192, 9216, 25600, 65536, 1053696, 19922944};
	uint8_t salt[16], pwd[80];

	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		struct argon2id_mem m;

		assert_int_equal(argon2id_mem_init(&m, mem[i]), 0);
		for (uint32_t t = 1; t <= 3; t++) {
			randombytes_buf(salt, sizeof(salt));
			randombytes_buf(pwd, sizeof(pwd));
			same_as_libsodium(pwd, 1 + t * 20, salt, t, mem[i], 32, &m);
		}
		argon2id_mem_free(&m);
	}
}

/* Each kind of instructions on its own (skipped where the CPU lacks it). */
static void
test_matches_libsodium_avx2(void **state)
{
	(void)state;
	if (!argon2id_select(ARGON2ID_AVX2))
		skip();
	matches_libsodium();
}

static void
test_matches_libsodium_avx512(void **state)
{
	(void)state;
	if (!argon2id_select(ARGON2ID_AVX512))
		skip();
	matches_libsodium();
}

/* By default the best the CPU has. */
static void
test_default_choice(void **state)
{
	enum argon2id_simd best = ARGON2ID_AUTO;

	(void)state;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		best = ARGON2ID_AVX512;
	else if (__builtin_cpu_supports("avx2"))
		best = ARGON2ID_AVX2;
	assert_true(argon2id_select(ARGON2ID_AVX2) || best == ARGON2ID_AUTO);
	assert_true(argon2id_select(ARGON2ID_AUTO));
	assert_int_equal(argon2id_selected(), best);
}

/* Every test starts from the default choice. */
static int
choice_default(void **state)
{
	(void)state;
	return argon2id_select(ARGON2ID_AUTO) ? 0 : -1;
}

/* Empty and long passwords, the shortest and longest tags. */
static void
test_input_shapes(void **state)
{
	static const size_t outlen[] = {16, 31, 32, 33, 64};
	uint8_t salt[16], pwd[1000];
	struct argon2id_mem m;

	(void)state;
	skip_without_avx2();
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(pwd, sizeof(pwd));
	assert_int_equal(argon2id_mem_init(&m, 16384), 0);
	same_as_libsodium("", 0, salt, 2, 16384, 32, &m);
	same_as_libsodium(pwd, sizeof(pwd), salt, 2, 16384, 32, &m);
	for (size_t i = 0; i < sizeof(outlen) / sizeof(outlen[0]); i++)
		same_as_libsodium(pwd, 20, salt, 1, 16384, outlen[i], &m);
	argon2id_mem_free(&m);
}

/* Memory left by one hash does not leak into the next: the same input twice, and a different
 * one in between, give libsodium's each time; and it is left cleared. */
static void
test_memory_reused(void **state)
{
	uint8_t salt[16] = {1}, a[32], b[32];
	struct argon2id_mem m;

	(void)state;
	skip_without_avx2();
	assert_int_equal(argon2id_mem_init(&m, 65536), 0);
	assert_int_equal(argon2id_hash(a, 32, "first", 5, salt, 2, 65536, &m), 0);
	same_as_libsodium("second", 6, salt, 2, 65536, 32, &m);
	assert_int_equal(argon2id_hash(b, 32, "first", 5, salt, 2, 65536, &m), 0);
	assert_memory_equal(a, b, 32);
	/* Nothing of the hash is left in the memory kept for the next. */
	for (uint32_t i = 0; i < m.nblocks * (ARGON2ID_BLOCK / 8); i++)
		if (m.blocks[i] != 0)
			fail_msg("word %u of the kept memory not cleared", i);
	argon2id_mem_free(&m);
	argon2id_mem_free(&m); /* a freed mem is zeroed: a no-op again */
	assert_null(m.map);
}

static void
test_refused(void **state)
{
	uint8_t salt[16] = {0}, out[65];
	struct argon2id_mem m, none;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(argon2id_blocks(8191), 0);
	assert_int_equal(argon2id_blocks(8192), 8);
	assert_int_equal(argon2id_blocks(19922944), 19456);
	assert_int_equal(argon2id_blocks(9 * 1024 + 1023), 8);
	errno = 0;
	assert_int_equal(argon2id_mem_init(&m, 4096), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(m.map);
	skip_without_avx2();
	assert_int_equal(argon2id_mem_init(&m, 8192), 0);
	errno = 0;
	assert_int_equal(argon2id_hash(out, 15, "p", 1, salt, 1, 8192, &m), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(argon2id_hash(out, 65, "p", 1, salt, 1, 8192, &m), -1);
	assert_int_equal(argon2id_hash(out, 32, "p", 1, salt, 0, 8192, &m), -1);
	/* Memory made for another cost. */
	assert_int_equal(argon2id_hash(out, 32, "p", 1, salt, 1, 16384, &m), -1);
	assert_int_equal(argon2id_hash(out, 32, "p", 1, salt, 1, 8192, &none), -1);
	assert_int_equal(errno, EINVAL);
	argon2id_mem_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_matches_libsodium_avx2, choice_default),
	    cmocka_unit_test_teardown(test_matches_libsodium_avx512, choice_default),
	    cmocka_unit_test_teardown(test_default_choice, choice_default),
	    cmocka_unit_test_teardown(test_input_shapes, choice_default),
	    cmocka_unit_test_teardown(test_memory_reused, choice_default),
	    cmocka_unit_test_teardown(test_refused, choice_default),
	};

	return cmocka_run_group_tests_name("argon2id", tests, setup, NULL);
}
