/* argon2id: argon2id v1.3 (RFC 9106) for one lane, the parameters libsodium's crypto_pwhash uses,
 * filling memory the caller keeps between hashes (no fresh mapping per hash); x86-64 with AVX2
 * (AVX-512 where the CPU has it). The result is libsodium's bit for bit (test_argon2id). */
#ifndef TMPROV_ARGON2ID_H
#define TMPROV_ARGON2ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARGON2ID_SALT_BYTES 16
#define ARGON2ID_BLOCK	    1024 /* bytes of one memory block */

/* Memory for hashes of one cost, reused by one hash at a time. */
struct argon2id_mem {
	void *map;	/* the mapping (NULL: none) */
	size_t map_len; /* its length */
	uint64_t *blocks;
	uint32_t nblocks;
};

/* Whether this CPU runs argon2id_hash (x86-64 with AVX2). */
bool argon2id_available(void);

/* The instructions argon2id_hash uses: by default (ARGON2ID_AUTO) AVX-512 where the CPU has
 * it, else AVX2. */
enum argon2id_simd { ARGON2ID_AUTO, ARGON2ID_AVX2, ARGON2ID_AVX512 };

/* Makes the hashes that start from now on use simd (ARGON2ID_AUTO: the default again), for
 * tests and measurements; false (nothing changed) when this CPU lacks it. */
bool argon2id_select(enum argon2id_simd simd);

/* What the next hash uses (ARGON2ID_AUTO: nothing, argon2id_available is false). */
enum argon2id_simd argon2id_selected(void);

/* The blocks a hash of memlimit bytes fills (libsodium's m = memlimit / 1024 KiB, rounded down
 * to a multiple of 4, at least 8); 0 when memlimit is below 8 KiB or over 2 TiB. */
uint32_t argon2id_blocks(size_t memlimit);

/* Maps mem for hashes of memlimit bytes (huge pages where the kernel gives them, left out of
 * core dumps). 0, or -1 with errno (EINVAL: a memlimit argon2id_blocks refuses). */
int argon2id_mem_init(struct argon2id_mem *mem, size_t memlimit);

/* Unmaps mem (the kernel clears the pages before any other use); a zeroed mem is a no-op. */
void argon2id_mem_free(struct argon2id_mem *mem);

/* The raw argon2id tag (outlen 16..64 bytes) of pwd with salt, opslimit passes, memlimit
 * bytes, in mem (made by argon2id_mem_init for that memlimit): what libsodium's crypto_pwhash
 * with crypto_pwhash_ALG_ARGON2ID13 gives. mem is cleared before it returns: nothing derived
 * from pwd stays in it. 0, or -1 (EINVAL: a parameter out of range, or mem for another cost;
 * ENOSYS: not argon2id_available). */
int argon2id_hash(uint8_t *out, size_t outlen, const void *pwd, size_t pwdlen,
		  const uint8_t salt[ARGON2ID_SALT_BYTES], uint32_t opslimit, size_t memlimit,
		  struct argon2id_mem *mem);

#endif
