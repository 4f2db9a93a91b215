/* store: the simulated TM server's accounts and scheduled meetings, in memory, capped.
 * Not thread-safe: the caller holds the simulator's lock. */
#ifndef TMSIM_STORE_H
#define TMSIM_STORE_H

#include <jansson.h>

#define STORE_UID_LEN	     36 /* TM's CompanyUid is "up to 36 characters"; we use a UUID */
#define STORE_MEETING_ID_LEN 9	/* decimal, like TM's meeting IDs */
#define STORE_MAX_ACCOUNTS   1000000L
#define STORE_MAX_MEETINGS   5000000L

enum { STORE_OK = 0, STORE_NOT_FOUND = -1, STORE_NOMEM = -2, STORE_FULL = -3 };

struct account_fields {
	const char *company_name; /* valid UTF-8 */
	const char *email;	  /* valid UTF-8 */
	long rooms, participants;
};

struct store;

struct store *store_new(void);
void store_free(struct store *s);
void store_clear(struct store *s);
int store_create(struct store *s, const struct account_fields *f, char uid[STORE_UID_LEN + 1]);
int store_update(struct store *s, const char *uid, const struct account_fields *f);
int store_delete(struct store *s, const char *uid);
/* Fills f with the account's values, borrowed from the store: valid until it next changes. */
int store_get(const struct store *s, const char *uid, struct account_fields *f);
/* The account's object as store_dump lists it (borrowed), or NULL. */
json_t *store_account(const struct store *s, const char *uid);
int store_schedule(struct store *s, const char *uid, const char *user_id,
		   char meeting_id[STORE_MEETING_ID_LEN + 1]);
/* {"accounts":[{company_uid, company_name, email, number_of_meeting_room,
 *  number_of_participant, meetings:[{meeting_id, user_id}]}], "meeting_count":N}, oldest
 * first; new reference that shares the accounts: serialise it before unlocking. */
json_t *store_dump(const struct store *s);

#endif
