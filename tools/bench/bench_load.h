/* bench_load: the commands of the worker scenarios — which command each subject gets in which
 * order (the mixes), the rows and TM accounts they need beforehand, and their message text. The
 * pg-reference scenario weighs its scripts by the same mix. */
#ifndef TMPROV_BENCH_LOAD_H
#define TMPROV_BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "buf.h"
#include "password.h"
#include "tm_client.h"

enum bench_kind {
	BENCH_CREATE,	       /* account.create: create_account */
	BENCH_UPDATE,	       /* account.update: update_account */
	BENCH_UPSERT,	       /* user.upsert without a password: local */
	BENCH_UPSERT_PASSWORD, /* user.upsert of a new user with a password: one argon2id hash */
	BENCH_SCHEDULE,	       /* meeting.schedule: remote_schedule */
	BENCH_CANCEL,	       /* meeting.cancel: local */
	BENCH_NKINDS
};

enum bench_mix {
	/* Odd subjects are pre-loaded (account in TM and PostgreSQL, user, meetings) and get
	 * update, upsert, schedule, cancel in turn; even ones start with account.create and a
	 * user.upsert carrying a password_digest, then schedule, update, upsert in turn. */
	BENCH_MIX_MIXED,
	/* Only commands that make one TM call: odd subjects (pre-loaded) schedule and update in
	 * turn, even ones create then update. */
	BENCH_MIX_TM,
	/* user.upsert of new users with a password, on pre-loaded accounts. */
	BENCH_MIX_PASSWORD,
	/* A bulk import: account.create of new customers only (then updates, when there are
	 * more commands than subjects); nothing pre-loaded. */
	BENCH_MIX_IMPORT,
};

/* The password of every benchmark user: the cost of its hash does not depend on its value. */
#define BENCH_PASSWORD "bench-password-not-a-secret"

#define BENCH_SUBJECTS_MAX 1000000L
#define BENCH_COMMANDS_MAX 10000000L

struct bench_load {
	enum bench_mix mix;
	long commands, subjects;
	long per_subject; /* commands of one subject at most: command i is subject i % subjects'
			     number i / subjects */
	long meetings;	  /* meetings pre-loaded per pre-loaded subject (for meeting.cancel) */
	char tag[24];	  /* command id prefix */
	char digest[PASSWORD_VERIFIER_MAX]; /* password_digest of new users, verifier of seeded */
};

/* "mixed", "tm", "password" or "import"; 0, or -1 when name is none of them. */
int bench_mix_parse(const char *name, enum bench_mix *out);
const char *bench_kind_type(enum bench_kind k); /* "account.create", ... */
const char *bench_kind_name(enum bench_kind k); /* "create", "update", ... */

/* Fills l (digest from po: one argon2id hash). 0, or -1 with err. */
int bench_load_init(struct bench_load *l, enum bench_mix mix, long commands, long subjects,
		    const char *tag, const struct password_opts *po, char *err, size_t errlen);
/* Whether subject s is pre-loaded; whether its pre-load includes a TM account. */
bool bench_load_seeded(const struct bench_load *l, long s);
bool bench_load_needs_tm(const struct bench_load *l);
/* The kind of subject s's command number k. */
enum bench_kind bench_load_kind(const struct bench_load *l, long s, long k);
/* How many commands of each kind the load holds. */
void bench_load_counts(const struct bench_load *l, long counts[BENCH_NKINDS]);
/* Command i: its subject (the Kafka key) into key, its CloudEvent JSON into msg (both reset
 * first). 0, or -1 when out of memory. */
int bench_load_message(const struct bench_load *l, long i, const char *time_rfc3339,
		       struct buf *key, struct buf *msg);
/* Index of command id (tag-i) in the load, or -1 when it is not one of ours. */
long bench_load_index(const struct bench_load *l, const char *id);

/* Pre-loads rows as the worker would have written them: accounts of subjects[0..n) (company
 * uids from uids, or made up when NULL), and when verifier is not NULL their users (user id
 * "u<s>") and meetings meetings per user. 0, or -1 with err. */
int bench_seed(PGconn *conn, const long *subjects, size_t n, char (*uids)[TM_COMPANY_UID_MAX + 1],
	       const char *verifier, long meetings, char *err, size_t errlen);
/* The pre-load of l: TM accounts (threads parallel create_account calls through tmo) when the
 * mix needs them, then bench_seed. 0, or -1 with err. */
int bench_load_seed(const struct bench_load *l, PGconn *conn, const struct tm_client_opts *tmo,
		    long threads, char *err, size_t errlen);

#endif
