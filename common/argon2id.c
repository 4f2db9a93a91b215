/* argon2id: argon2id v1.3 (RFC 9106) for one lane, the parameters libsodium's crypto_pwhash uses,
 * filling memory the caller keeps between hashes (no fresh mapping per hash); x86-64 with AVX2
 * (AVX-512 where the CPU has it). The result is libsodium's bit for bit (test_argon2id). */
#include "argon2id.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define ARGON2ID_X86 1
#include <immintrin.h>
#endif

#define QWORDS	       (ARGON2ID_BLOCK / 8) /* 128 */
#define SLICES	       4		    /* RFC 9106's SL */
#define ADDRESSES      QWORDS		    /* pseudo-random values per address block */
#define VERSION	       0x13
#define TYPE_ID	       2
#define HUGE_PAGE      (2u << 20)
#define BLOCKS_MAX     (1u << 31) /* 2 TiB of blocks: well past any TMPROV_ARGON2_MEMLIMIT */
#define PREHASH_BYTES  64
#define H0_INPUT_BYTES (PREHASH_BYTES + 8)

uint32_t
argon2id_blocks(size_t memlimit)
{
	size_t m = memlimit / 1024;

	if (memlimit < 8192 || m > BLOCKS_MAX)
		return 0;
	return (uint32_t)(m - m % SLICES);
}

int
argon2id_mem_init(struct argon2id_mem *mem, size_t memlimit)
{
	uint32_t n = argon2id_blocks(memlimit);
	size_t len = (size_t)n * ARGON2ID_BLOCK + HUGE_PAGE;
	uintptr_t start;
	void *map;

	memset(mem, 0, sizeof(*mem));
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	/* Both only advise: a kernel without transparent huge pages still hashes. */
	(void)madvise(map, len, MADV_HUGEPAGE);
	(void)madvise(map, len, MADV_DONTDUMP);
	start = ((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	mem->map = map;
	mem->map_len = len;
	mem->blocks = (uint64_t *)start;
	mem->nblocks = n;
	return 0;
}

void
argon2id_mem_free(struct argon2id_mem *mem)
{
	if (mem->map != NULL)
		munmap(mem->map, mem->map_len);
	memset(mem, 0, sizeof(*mem));
}

static void
store32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
hash_u32(crypto_generichash_blake2b_state *st, uint32_t v)
{
	uint8_t b[4];

	store32(b, v);
	crypto_generichash_blake2b_update(st, b, sizeof(b));
}

/* H' of RFC 9106 (3.3): outlen bytes (16..64, or a multiple of 32 above 64) of in. */
static void
hash_long(uint8_t *out, uint32_t outlen, const uint8_t *in, size_t inlen)
{
	crypto_generichash_blake2b_state st;
	uint8_t v[64];
	uint32_t left;

	crypto_generichash_blake2b_init(&st, NULL, 0, outlen <= 64 ? outlen : 64);
	hash_u32(&st, outlen);
	crypto_generichash_blake2b_update(&st, in, inlen);
	if (outlen <= 64) {
		crypto_generichash_blake2b_final(&st, out, outlen);
		return;
	}
	crypto_generichash_blake2b_final(&st, v, 64);
	memcpy(out, v, 32);
	out += 32;
	for (left = outlen - 32; left > 64; left -= 32, out += 32) {
		crypto_generichash_blake2b(v, 64, v, 64, NULL, 0);
		memcpy(out, v, 32);
	}
	crypto_generichash_blake2b(v, left, v, 64, NULL, 0);
	memcpy(out, v, left);
	sodium_memzero(v, sizeof(v));
}

/* H0 of RFC 9106 (3.2), one lane, no secret and no associated data. */
static void
prehash(uint8_t h0[PREHASH_BYTES], uint32_t outlen, const void *pwd, size_t pwdlen,
	const uint8_t *salt, uint32_t m, uint32_t t)
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, NULL, 0, PREHASH_BYTES);
	hash_u32(&st, 1); /* p */
	hash_u32(&st, outlen);
	hash_u32(&st, m);
	hash_u32(&st, t);
	hash_u32(&st, VERSION);
	hash_u32(&st, TYPE_ID);
	hash_u32(&st, (uint32_t)pwdlen);
	crypto_generichash_blake2b_update(&st, pwd, pwdlen);
	hash_u32(&st, ARGON2ID_SALT_BYTES);
	crypto_generichash_blake2b_update(&st, salt, ARGON2ID_SALT_BYTES);
	hash_u32(&st, 0); /* K */
	hash_u32(&st, 0); /* X */
	crypto_generichash_blake2b_final(&st, h0, PREHASH_BYTES);
}

static void
block_load(uint64_t *dst, const uint8_t *src)
{
	for (int i = 0; i < QWORDS; i++) {
		uint64_t v = 0;

		for (int b = 7; b >= 0; b--)
			v = v << 8 | src[8 * i + b];
		dst[i] = v;
	}
}

static void
block_store(uint8_t *dst, const uint64_t *src)
{
	for (int i = 0; i < QWORDS; i++)
		for (int b = 0; b < 8; b++)
			dst[8 * i + b] = (uint8_t)(src[i] >> (8 * b));
}

#ifdef ARGON2ID_X86

#define AVX2 __attribute__((target("avx2")))

/* BlaMka's addition: x + y + 2 * lo32(x) * lo32(y), on four words at once. */
static inline AVX2 __m256i
blamka(__m256i x, __m256i y)
{
	__m256i xy = _mm256_mul_epu32(x, y);

	return _mm256_add_epi64(_mm256_add_epi64(x, y), _mm256_add_epi64(xy, xy));
}

/* RFC 9106's GB on four columns at once. */
static inline AVX2 void
gb(__m256i *a, __m256i *b, __m256i *c, __m256i *d)
{
	const __m256i r24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
					     3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
	const __m256i r16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
					     2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);

	*a = blamka(*a, *b);
	*d = _mm256_shuffle_epi32(_mm256_xor_si256(*d, *a), _MM_SHUFFLE(2, 3, 0, 1));
	*c = blamka(*c, *d);
	*b = _mm256_shuffle_epi8(_mm256_xor_si256(*b, *c), r24);
	*a = blamka(*a, *b);
	*d = _mm256_shuffle_epi8(_mm256_xor_si256(*d, *a), r16);
	*c = blamka(*c, *d);
	*b = _mm256_xor_si256(*b, *c);
	*b = _mm256_xor_si256(_mm256_srli_epi64(*b, 63), _mm256_add_epi64(*b, *b));
}

/* RFC 9106's P on v0..v15 held as a = v0..v3, b = v4..v7, c = v8..v11, d = v12..v15: the
 * columns, then the diagonals (b, c, d turned by one, two, three words, and back). One P at a
 * time measured faster here than two interleaved (20.5 against 25.2 ms a hash). */
static inline AVX2 void
permute(__m256i *a, __m256i *b, __m256i *c, __m256i *d)
{
	gb(a, b, c, d);
	*b = _mm256_permute4x64_epi64(*b, _MM_SHUFFLE(0, 3, 2, 1));
	*c = _mm256_permute4x64_epi64(*c, _MM_SHUFFLE(1, 0, 3, 2));
	*d = _mm256_permute4x64_epi64(*d, _MM_SHUFFLE(2, 1, 0, 3));
	gb(a, b, c, d);
	*b = _mm256_permute4x64_epi64(*b, _MM_SHUFFLE(2, 1, 0, 3));
	*c = _mm256_permute4x64_epi64(*c, _MM_SHUFFLE(1, 0, 3, 2));
	*d = _mm256_permute4x64_epi64(*d, _MM_SHUFFLE(0, 3, 2, 1));
}

static inline AVX2 __m256i
pair_load(const uint64_t *r, int lo, int hi)
{
	return _mm256_set_m128i(_mm_load_si128((const __m128i *)(r + hi)),
				_mm_load_si128((const __m128i *)(r + lo)));
}

static inline AVX2 void
pair_store(uint64_t *r, int lo, int hi, __m256i v)
{
	_mm_store_si128((__m128i *)(r + lo), _mm256_castsi256_si128(v));
	_mm_store_si128((__m128i *)(r + hi), _mm256_extracti128_si256(v, 1));
}

/* RFC 9106's G (3.5): next = P-rows-then-columns(prev ^ ref) ^ (prev ^ ref), xor-ed into next
 * when with_xor (passes after the first, version 1.3). next may be prev or ref. */
static AVX2 void
compress_avx2(const uint64_t *prev, const uint64_t *ref, uint64_t *next, bool with_xor)
{
	_Alignas(32) uint64_t r[QWORDS], keep[QWORDS];

	for (int i = 0; i < QWORDS; i += 4) {
		__m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(prev + i)),
					     _mm256_loadu_si256((const __m256i *)(ref + i)));

		_mm256_store_si256((__m256i *)(r + i), x);
		if (with_xor)
			x = _mm256_xor_si256(x, _mm256_loadu_si256((const __m256i *)(next + i)));
		_mm256_store_si256((__m256i *)(keep + i), x);
	}
	for (int i = 0; i < 8; i++) { /* rows: words 16i .. 16i+15 */
		__m256i a = _mm256_load_si256((const __m256i *)(r + 16 * i));
		__m256i b = _mm256_load_si256((const __m256i *)(r + 16 * i + 4));
		__m256i c = _mm256_load_si256((const __m256i *)(r + 16 * i + 8));
		__m256i d = _mm256_load_si256((const __m256i *)(r + 16 * i + 12));
		permute(&a, &b, &c, &d);
		_mm256_store_si256((__m256i *)(r + 16 * i), a);
		_mm256_store_si256((__m256i *)(r + 16 * i + 4), b);
		_mm256_store_si256((__m256i *)(r + 16 * i + 8), c);
		_mm256_store_si256((__m256i *)(r + 16 * i + 12), d);
	}
	for (int i = 0; i < 8; i++) { /* columns: words 2i, 2i+1 of each row */
		__m256i a = pair_load(r, 2 * i, 2 * i + 16);
		__m256i b = pair_load(r, 2 * i + 32, 2 * i + 48);
		__m256i c = pair_load(r, 2 * i + 64, 2 * i + 80);
		__m256i d = pair_load(r, 2 * i + 96, 2 * i + 112);
		permute(&a, &b, &c, &d);
		pair_store(r, 2 * i, 2 * i + 16, a);
		pair_store(r, 2 * i + 32, 2 * i + 48, b);
		pair_store(r, 2 * i + 64, 2 * i + 80, c);
		pair_store(r, 2 * i + 96, 2 * i + 112, d);
	}
	for (int i = 0; i < QWORDS; i += 4)
		_mm256_storeu_si256(
		    (__m256i *)(next + i),
		    _mm256_xor_si256(_mm256_load_si256((const __m256i *)(r + i)),
				     _mm256_load_si256((const __m256i *)(keep + i))));
}

#define AVX512 __attribute__((target("avx512f")))

static inline AVX512 __m512i
blamka512(__m512i x, __m512i y)
{
	__m512i xy = _mm512_mul_epu32(x, y);

	return _mm512_add_epi64(_mm512_add_epi64(x, y), _mm512_add_epi64(xy, xy));
}

/* GB on the four columns of two P's at once (one in each 256-bit half); AVX-512 rotates. */
static inline AVX512 void
gb512(__m512i *a, __m512i *b, __m512i *c, __m512i *d)
{
	*a = blamka512(*a, *b);
	*d = _mm512_ror_epi64(_mm512_xor_si512(*d, *a), 32);
	*c = blamka512(*c, *d);
	*b = _mm512_ror_epi64(_mm512_xor_si512(*b, *c), 24);
	*a = blamka512(*a, *b);
	*d = _mm512_ror_epi64(_mm512_xor_si512(*d, *a), 16);
	*c = blamka512(*c, *d);
	*b = _mm512_ror_epi64(_mm512_xor_si512(*b, *c), 63);
}

/* permute's, for two P's at once: the turns stay within each 256-bit half. */
static inline AVX512 void
permute512(__m512i *a, __m512i *b, __m512i *c, __m512i *d)
{
	gb512(a, b, c, d);
	*b = _mm512_permutex_epi64(*b, _MM_SHUFFLE(0, 3, 2, 1));
	*c = _mm512_permutex_epi64(*c, _MM_SHUFFLE(1, 0, 3, 2));
	*d = _mm512_permutex_epi64(*d, _MM_SHUFFLE(2, 1, 0, 3));
	gb512(a, b, c, d);
	*b = _mm512_permutex_epi64(*b, _MM_SHUFFLE(2, 1, 0, 3));
	*c = _mm512_permutex_epi64(*c, _MM_SHUFFLE(1, 0, 3, 2));
	*d = _mm512_permutex_epi64(*d, _MM_SHUFFLE(0, 3, 2, 1));
}

#define ZW(r, i) ((__m512i *)((r) + 8 * (i))) /* the i-th eight words of r */

/* Rows i and i + 1 (words 16i .. 16i+31): a holds v0..v3 of each (row i in the low half),
 * b v4..v7, c v8..v11, d v12..v15. */
static inline AVX512 void
rows512(uint64_t *r, int i)
{
	__m512i l0 = _mm512_load_si512(ZW(r, 2 * i)), h0 = _mm512_load_si512(ZW(r, 2 * i + 1));
	__m512i l1 = _mm512_load_si512(ZW(r, 2 * i + 2)), h1 = _mm512_load_si512(ZW(r, 2 * i + 3));
	__m512i a = _mm512_shuffle_i64x2(l0, l1, _MM_SHUFFLE(1, 0, 1, 0));
	__m512i b = _mm512_shuffle_i64x2(l0, l1, _MM_SHUFFLE(3, 2, 3, 2));
	__m512i c = _mm512_shuffle_i64x2(h0, h1, _MM_SHUFFLE(1, 0, 1, 0));
	__m512i d = _mm512_shuffle_i64x2(h0, h1, _MM_SHUFFLE(3, 2, 3, 2));

	permute512(&a, &b, &c, &d);
	_mm512_store_si512(ZW(r, 2 * i), _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)));
	_mm512_store_si512(ZW(r, 2 * i + 2), _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
	_mm512_store_si512(ZW(r, 2 * i + 1), _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(1, 0, 1, 0)));
	_mm512_store_si512(ZW(r, 2 * i + 3), _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* Columns 4h .. 4h+3 (words 8h .. 8h+7 of each row): one P per column, two per register, v0..v3
 * of a column being words 2k, 2k+1 of rows 0 and 1, v4..v7 of rows 2 and 3, and so on. */
static inline AVX512 void
columns512(uint64_t *r, int h)
{
	const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
	const __m512i hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
	const __m512i even = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
	const __m512i odd = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
	__m512i x[4], y[4]; /* columns 4h, 4h+1 and 4h+2, 4h+3: a, b, c, d */

	for (int k = 0; k < 4; k++) {
		__m512i r0 = _mm512_load_si512(ZW(r, 4 * k + h));
		__m512i r1 = _mm512_load_si512(ZW(r, 4 * k + 2 + h));

		x[k] = _mm512_permutex2var_epi64(r0, lo, r1);
		y[k] = _mm512_permutex2var_epi64(r0, hi, r1);
	}
	permute512(&x[0], &x[1], &x[2], &x[3]);
	permute512(&y[0], &y[1], &y[2], &y[3]);
	for (int k = 0; k < 4; k++) {
		_mm512_store_si512(ZW(r, 4 * k + h), _mm512_permutex2var_epi64(x[k], even, y[k]));
		_mm512_store_si512(ZW(r, 4 * k + 2 + h),
				   _mm512_permutex2var_epi64(x[k], odd, y[k]));
	}
}

/* compress_avx2's, with AVX-512. */
static AVX512 void
compress_avx512(const uint64_t *prev, const uint64_t *ref, uint64_t *next, bool with_xor)
{
	_Alignas(64) uint64_t r[QWORDS], keep[QWORDS];

	for (int i = 0; i < QWORDS / 8; i++) {
		__m512i x = _mm512_xor_si512(_mm512_loadu_si512(prev + 8 * i),
					     _mm512_loadu_si512(ref + 8 * i));

		_mm512_store_si512(ZW(r, i), x);
		if (with_xor)
			x = _mm512_xor_si512(x, _mm512_loadu_si512(next + 8 * i));
		_mm512_store_si512(ZW(keep, i), x);
	}
	for (int i = 0; i < 8; i += 2)
		rows512(r, i);
	columns512(r, 0);
	columns512(r, 1);
	for (int i = 0; i < QWORDS / 8; i++)
		_mm512_storeu_si512(next + 8 * i, _mm512_xor_si512(_mm512_load_si512(ZW(r, i)),
								   _mm512_load_si512(ZW(keep, i))));
}

typedef void compress_fn(const uint64_t *prev, const uint64_t *ref, uint64_t *next, bool with_xor);

/* What argon2id_select asked for (an enum argon2id_simd; ARGON2ID_AUTO: the best there is). */
static atomic_int selected;

static enum argon2id_simd
simd_now(void)
{
	int want = atomic_load_explicit(&selected, memory_order_relaxed);

	__builtin_cpu_init();
	if (want != ARGON2ID_AUTO)
		return (enum argon2id_simd)want;
	if (__builtin_cpu_supports("avx512f"))
		return ARGON2ID_AVX512;
	return __builtin_cpu_supports("avx2") ? ARGON2ID_AVX2 : ARGON2ID_AUTO;
}

/* Where the pseudo-random values of a data-independent segment come from (RFC 9106, 3.4.1.2):
 * in = (pass, lane 0, slice, blocks, passes, type, counter, 0...), addr = G(0, G(0, in)). */
struct addressing {
	_Alignas(32) uint64_t in[QWORDS];
	_Alignas(32) uint64_t addr[QWORDS];
	_Alignas(32) uint64_t zero[QWORDS];
};

static void
addresses_next(struct addressing *ad, compress_fn *compress)
{
	ad->in[6]++;
	compress(ad->zero, ad->in, ad->addr, false);
	compress(ad->zero, ad->addr, ad->addr, false);
}

struct fill {
	uint64_t *mem;
	uint32_t blocks, segment, pass, passes;
	compress_fn *compress; /* chosen once per hash */
};

/* The block a block of the lane refers to (RFC 9106, 3.4.2), from the low 32 bits of its
 * pseudo-random value; index is the block's place in its segment. */
static uint32_t
reference(const struct fill *f, uint32_t slice, uint32_t index, uint64_t rand)
{
	uint64_t area, rel = rand & 0xFFFFFFFFu, start = 0;

	if (f->pass == 0)
		area = (uint64_t)slice * f->segment + index - 1;
	else
		area = (uint64_t)f->blocks - f->segment + index - 1;
	rel = rel * rel >> 32;
	rel = area - 1 - (area * rel >> 32);
	if (f->pass != 0 && slice != SLICES - 1)
		start = (uint64_t)(slice + 1) * f->segment;
	return (uint32_t)((start + rel) % f->blocks);
}

static void
fill_segment(const struct fill *f, uint32_t slice, struct addressing *ad)
{
	bool independent = f->pass == 0 && slice < 2;
	uint32_t first = f->pass == 0 && slice == 0 ? 2 : 0;
	uint32_t cur = slice * f->segment + first;
	uint32_t prev = cur == 0 ? f->blocks - 1 : cur - 1;

	if (independent) {
		memset(ad->in, 0, sizeof(ad->in));
		ad->in[0] = f->pass;
		ad->in[2] = slice;
		ad->in[3] = f->blocks;
		ad->in[4] = f->passes;
		ad->in[5] = TYPE_ID;
		if (first != 0)
			addresses_next(ad, f->compress);
	}
	for (uint32_t i = first; i < f->segment; i++, prev = cur, cur++) {
		uint64_t rand;

		if (independent) {
			if (i % ADDRESSES == 0)
				addresses_next(ad, f->compress);
			rand = ad->addr[i % ADDRESSES];
		} else {
			rand = f->mem[(size_t)prev * QWORDS];
		}
		f->compress(f->mem + (size_t)prev * QWORDS,
			    f->mem + (size_t)reference(f, slice, i, rand) * QWORDS,
			    f->mem + (size_t)cur * QWORDS, f->pass != 0);
	}
}

static void
fill_memory(struct fill *f)
{
	struct addressing ad;

	memset(&ad, 0, sizeof(ad));
	for (f->pass = 0; f->pass < f->passes; f->pass++)
		for (uint32_t slice = 0; slice < SLICES; slice++)
			fill_segment(f, slice, &ad);
	sodium_memzero(&ad, sizeof(ad));
}

bool
argon2id_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

bool
argon2id_select(enum argon2id_simd simd)
{
	__builtin_cpu_init();
	if ((simd == ARGON2ID_AVX2 && !__builtin_cpu_supports("avx2")) ||
	    (simd == ARGON2ID_AVX512 && !__builtin_cpu_supports("avx512f")))
		return false;
	atomic_store_explicit(&selected, (int)simd, memory_order_relaxed);
	return true;
}

enum argon2id_simd
argon2id_selected(void)
{
	return simd_now();
}

#else

bool
argon2id_available(void)
{
	return false;
}

bool
argon2id_select(enum argon2id_simd simd)
{
	return simd == ARGON2ID_AUTO;
}

enum argon2id_simd
argon2id_selected(void)
{
	return ARGON2ID_AUTO;
}

#endif

int
argon2id_hash(uint8_t *out, size_t outlen, const void *pwd, size_t pwdlen,
	      const uint8_t salt[ARGON2ID_SALT_BYTES], uint32_t opslimit, size_t memlimit,
	      struct argon2id_mem *mem)
{
	uint8_t h[H0_INPUT_BYTES], block[ARGON2ID_BLOCK];
	uint32_t m = (uint32_t)(memlimit / 1024);

	if (!argon2id_available()) {
		errno = ENOSYS;
		return -1;
	}
	if (outlen < 16 || outlen > 64 || pwdlen > UINT32_MAX || opslimit < 1 ||
	    argon2id_blocks(memlimit) == 0 || mem->nblocks != argon2id_blocks(memlimit)) {
		errno = EINVAL;
		return -1;
	}
#ifdef ARGON2ID_X86
	struct fill f = {.mem = mem->blocks,
			 .blocks = mem->nblocks,
			 .segment = mem->nblocks / SLICES,
			 .passes = opslimit,
			 .compress =
			     simd_now() == ARGON2ID_AVX512 ? compress_avx512 : compress_avx2};

	prehash(h, (uint32_t)outlen, pwd, pwdlen, salt, m, opslimit);
	for (uint32_t i = 0; i < 2; i++) {
		store32(h + PREHASH_BYTES, i);
		store32(h + PREHASH_BYTES + 4, 0); /* lane */
		hash_long(block, ARGON2ID_BLOCK, h, sizeof(h));
		block_load(f.mem + (size_t)i * QWORDS, block);
	}
	fill_memory(&f);
	block_store(block, f.mem + (size_t)(f.blocks - 1) * QWORDS);
	/* Kept mapped for the next hash, the blocks must not keep what they were made of (one
	 * pass's blocks are a cheap test of a guessed password). */
	sodium_memzero(f.mem, (size_t)f.blocks * ARGON2ID_BLOCK);
	hash_long(out, (uint32_t)outlen, block, sizeof(block));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(block, sizeof(block));
	return 0;
#else
	(void)out, (void)pwd, (void)salt, (void)m, (void)h, (void)block;
	errno = ENOSYS;
	return -1;
#endif
}
