/* bench_hash: the hash scenario — argon2id verifiers made (or checked) per second through
 * common/password at the configured cost, on N threads: the ceiling of password-setting commands
 * and of successful logins; or made by libsodium's own crypto_pwhash_str, the reference. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "bench_stats.h"
#include "password.h"
#include "clock.h"

#define BENCH_HASH_THREADS_MAX 256
#define BENCH_HASH_CRED_MAX    160 /* a sha512-hex credential is 128 characters */

struct bench_hash_run {
	const struct bench_opts *o;
	struct password_opts po;
	bool verify;	/* password_verify against verifier, else password_verifier_new */
	bool libsodium; /* crypto_pwhash_str_alg instead of password_verifier_new */
	char credential[BENCH_HASH_CRED_MAX];
	char verifier[PASSWORD_VERIFIER_MAX];
	pthread_barrier_t start;
	atomic_long budget;
};

struct bench_hash_thread {
	struct bench_hash_run *run;
	pthread_t tid;
	struct bench_samples lat;
	long hashes, errors;
	int samples_rc;
};

/* One hash; true when it did what it should (a well-formed verifier, or a match). */
static bool
bench_hash_one(struct bench_hash_run *run)
{
	char out[PASSWORD_VERIFIER_MAX];

	if (run->verify)
		return password_verify(&run->po, run->verifier, run->credential) == 1;
	if (run->libsodium)
		return crypto_pwhash_str_alg(out, run->credential, strlen(run->credential),
					     run->po.opslimit, run->po.memlimit,
					     crypto_pwhash_ALG_ARGON2ID13) == 0 &&
		       password_verifier_valid(out);
	return password_verifier_new(&run->po, run->credential, out) == 0 &&
	       password_verifier_valid(out);
}

/* The first hash, before the barrier, faults in the thread's memlimit pages. */
static void *
bench_hash_thread_main(void *arg)
{
	struct bench_hash_thread *t = arg;
	struct bench_hash_run *run = t->run;
	double t1, end;

	if (!bench_hash_one(run))
		t->errors++;
	pthread_barrier_wait(&run->start);
	end = bench_deadline(run->o->duration_ms);
	while (t->samples_rc == 0 && clock_now_ms_f() < end) {
		if (run->o->calls > 0 && atomic_fetch_sub(&run->budget, 1) <= 0)
			break;
		t1 = clock_now_ms_f();
		if (!bench_hash_one(run))
			t->errors++;
		t->hashes++;
		t->samples_rc = bench_samples_add(&t->lat, clock_now_ms_f() - t1);
	}
	return NULL;
}

static int
bench_hash_setup(struct bench_hash_run *run, const struct bench_opts *o, char *err, size_t errlen)
{
	memset(run, 0, sizeof(*run));
	run->o = o;
	run->verify = strcmp(o->mode, "verify") == 0;
	run->libsodium = strcmp(o->mode, "libsodium") == 0;
	atomic_store(&run->budget, o->calls);
	if (password_opts_from_cfg(&run->po, o->cfg, err, errlen) != 0)
		return -1;
	/* A fixed benchmark password: the cost does not depend on its value. */
	if (password_credential(&run->po, "bench-password-not-a-secret", run->credential,
				sizeof(run->credential)) != 0 ||
	    password_verifier_new(&run->po, run->credential, run->verifier) != 0) {
		snprintf(err, errlen, "cannot make the reference verifier");
		return -1;
	}
	return 0;
}

static int
bench_hash_collect(struct bench_hash_thread *th, long n, struct bench_samples *lat, long *hashes,
		   char *err, size_t errlen)
{
	long errors = 0;

	for (long i = 0; i < n; i++) {
		int rc = th[i].samples_rc ? th[i].samples_rc : bench_samples_merge(lat, &th[i].lat);

		if (rc != 0) {
			snprintf(err, errlen, "%s", bench_samples_strerror(rc));
			return -1;
		}
		*hashes += th[i].hashes;
		errors += th[i].errors;
	}
	if (errors > 0) {
		snprintf(err, errlen, "%ld of %ld hashes failed (out of memory for memlimit?)",
			 errors, *hashes);
		return -1;
	}
	if (*hashes == 0) {
		snprintf(err, errlen, "no hash completed");
		return -1;
	}
	return 0;
}

/* The process's CPU time so far in ms: [0] user, [1] system. */
static void
bench_hash_cpu(double cpu[2])
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	cpu[0] = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3;
	cpu[1] = (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
}

/* cpu_ms: CPU time per hash, user + system, which a busy machine's other processes do not
 * inflate as they do the rate; cpu_sys_ms its system part: the kernel mapping, faulting in and
 * unmapping the fresh memlimit bytes libsodium takes for every hash. Neither counts time the
 * CPU spends outside this system (a VM's host backing those fresh pages: here a lone libsodium
 * hash takes about twice its cpu_ms of wall time), so targets stay on the rates. */
static int
bench_hash_result(const struct bench_hash_run *run, long n, long hashes, double elapsed,
		  const double cpu[2], struct bench_samples *lat, struct bench_result *r)
{
	r->unit = "hashes/s";
	r->params = json_pack("{s:s, s:i, s:I, s:I}", "mode", run->o->mode, "threads",
			      (json_int_t)n, "opslimit", (json_int_t)run->po.opslimit, "memlimit",
			      (json_int_t)run->po.memlimit);
	r->counts = json_pack("{s:i, s:f, s:f, s:f}", "hashes", (json_int_t)hashes, "elapsed_ms",
			      elapsed, "cpu_user_ms", cpu[0], "cpu_sys_ms", cpu[1]);
	r->figures = json_object();
	if (r->params == NULL || r->counts == NULL || r->figures == NULL ||
	    json_object_set_new(r->figures, "cpu_ms", json_real((cpu[0] + cpu[1]) / hashes)) != 0 ||
	    json_object_set_new(r->figures, "cpu_sys_ms", json_real(cpu[1] / hashes)) != 0)
		return -1;
	return bench_figures_put(r->figures, (double)hashes * 1e3 / elapsed, lat);
}

int
bench_hash(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	long n = o->threads, started = 0, hashes = 0;
	struct bench_hash_thread *th = NULL;
	struct bench_hash_run run;
	struct bench_samples lat;
	double t0, elapsed, cpu0[2], cpu[2];
	int rc = -1;

	bench_samples_init(&lat);
	if (n > BENCH_HASH_THREADS_MAX) {
		snprintf(err, errlen, "hash: at most %d threads", BENCH_HASH_THREADS_MAX);
		return -1;
	}
	if (bench_hash_setup(&run, o, err, errlen) != 0)
		goto out;
	th = calloc((size_t)n, sizeof(*th));
	if (th == NULL || pthread_barrier_init(&run.start, NULL, (unsigned)n + 1) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (; started < n; started++) {
		th[started].run = &run;
		bench_samples_init(&th[started].lat);
		if (pthread_create(&th[started].tid, NULL, bench_hash_thread_main, &th[started]) !=
		    0)
			break;
	}
	if (started < n) {
		/* The barrier counts on n threads: without them the started ones would wait
		 * forever. */
		fprintf(stderr, "tmprov-bench: cannot start thread %ld of %ld\n", started + 1, n);
		_exit(1);
	}
	pthread_barrier_wait(&run.start);
	t0 = clock_now_ms_f();
	bench_hash_cpu(cpu0);
	for (long i = 0; i < n; i++)
		pthread_join(th[i].tid, NULL);
	elapsed = clock_now_ms_f() - t0;
	bench_hash_cpu(cpu);
	cpu[0] -= cpu0[0];
	cpu[1] -= cpu0[1];
	pthread_barrier_destroy(&run.start);
	if (bench_hash_collect(th, n, &lat, &hashes, err, errlen) != 0)
		goto out;
	if (bench_hash_result(&run, n, hashes, elapsed, cpu, &lat, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	for (long i = 0; i < started; i++)
		bench_samples_free(&th[i].lat);
	free(th);
	bench_samples_free(&lat);
	return rc;
}
