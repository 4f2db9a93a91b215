/* store: accounts as jansson objects keyed by company_uid (jansson keeps insertion order and
 * hashes keys), plus an index of meeting IDs so that every ID handed out is unique. */
#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

struct store {
	json_t *accounts; /* company_uid -> account object */
	json_t *meetings; /* meeting_id -> company_uid */
};

struct store *
store_new(void)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->accounts = json_object();
	s->meetings = json_object();
	if (s->accounts == NULL || s->meetings == NULL) {
		store_free(s);
		return NULL;
	}
	return s;
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	json_decref(s->accounts);
	json_decref(s->meetings);
	free(s);
}

void
store_clear(struct store *s)
{
	json_object_clear(s->accounts);
	json_object_clear(s->meetings);
}

static void
random_bytes(void *buf, size_t len)
{
	/* getrandom on a few bytes does not fail or come short once the pool is ready. */
	if (getrandom(buf, len, 0) != (ssize_t)len)
		memset(buf, 0x5a, len);
}

static void
uuid_make(char out[STORE_UID_LEN + 1])
{
	unsigned char b[16];

	random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, STORE_UID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

static int
fields_set(json_t *acct, const struct account_fields *f)
{
	json_t *name = json_string(f->company_name), *email = json_string(f->email);

	if (name == NULL || email == NULL) {
		json_decref(name);
		json_decref(email);
		return STORE_NOMEM;
	}
	json_object_set_new(acct, "company_name", name);
	json_object_set_new(acct, "email", email);
	json_object_set_new(acct, "number_of_meeting_room", json_integer(f->rooms));
	json_object_set_new(acct, "number_of_participant", json_integer(f->participants));
	return STORE_OK;
}

int
store_create(struct store *s, const struct account_fields *f, char uid[STORE_UID_LEN + 1])
{
	json_t *acct;

	if ((long)json_object_size(s->accounts) >= STORE_MAX_ACCOUNTS)
		return STORE_FULL;
	do
		uuid_make(uid);
	while (json_object_get(s->accounts, uid) != NULL);
	acct = json_pack("{s:s}", "company_uid", uid);
	if (acct == NULL || fields_set(acct, f) != STORE_OK ||
	    json_object_set_new(acct, "meetings", json_array()) != 0) {
		json_decref(acct);
		return STORE_NOMEM;
	}
	return json_object_set_new(s->accounts, uid, acct) == 0 ? STORE_OK : STORE_NOMEM;
}

int
store_update(struct store *s, const char *uid, const struct account_fields *f)
{
	json_t *acct = json_object_get(s->accounts, uid);

	if (acct == NULL)
		return STORE_NOT_FOUND;
	return fields_set(acct, f);
}

int
store_delete(struct store *s, const char *uid)
{
	json_t *acct = json_object_get(s->accounts, uid), *m;
	size_t i;

	if (acct == NULL)
		return STORE_NOT_FOUND;
	json_array_foreach(json_object_get(acct, "meetings"), i, m)
	    json_object_del(s->meetings, json_string_value(json_object_get(m, "meeting_id")));
	json_object_del(s->accounts, uid);
	return STORE_OK;
}

int
store_get(const struct store *s, const char *uid, struct account_fields *f)
{
	json_t *acct = json_object_get(s->accounts, uid);

	if (acct == NULL)
		return STORE_NOT_FOUND;
	f->company_name = json_string_value(json_object_get(acct, "company_name"));
	f->email = json_string_value(json_object_get(acct, "email"));
	f->rooms = (long)json_integer_value(json_object_get(acct, "number_of_meeting_room"));
	f->participants = (long)json_integer_value(json_object_get(acct, "number_of_participant"));
	return STORE_OK;
}

json_t *
store_account(const struct store *s, const char *uid)
{
	return json_object_get(s->accounts, uid);
}

/* A fresh 9-digit meeting ID (no leading zero), unique among the meetings held. */
static void
meeting_id_make(const struct store *s, char out[STORE_MEETING_ID_LEN + 1])
{
	uint32_t r;

	do {
		random_bytes(&r, sizeof(r));
		snprintf(out, STORE_MEETING_ID_LEN + 1, "%09u", 100000000u + r % 900000000u);
	} while (json_object_get(s->meetings, out) != NULL);
}

int
store_schedule(struct store *s, const char *uid, const char *user_id,
	       char meeting_id[STORE_MEETING_ID_LEN + 1])
{
	json_t *acct = json_object_get(s->accounts, uid), *m;

	if (acct == NULL)
		return STORE_NOT_FOUND;
	if ((long)json_object_size(s->meetings) >= STORE_MAX_MEETINGS)
		return STORE_FULL;
	meeting_id_make(s, meeting_id);
	m = json_pack("{s:s, s:s}", "meeting_id", meeting_id, "user_id", user_id);
	if (m == NULL || json_object_set_new(s->meetings, meeting_id, json_string(uid)) != 0) {
		json_decref(m);
		return STORE_NOMEM;
	}
	if (json_array_append_new(json_object_get(acct, "meetings"), m) != 0) {
		json_object_del(s->meetings, meeting_id);
		return STORE_NOMEM;
	}
	return STORE_OK;
}

json_t *
store_dump(const struct store *s)
{
	json_t *list = json_array(), *acct;
	const char *uid;

	if (list == NULL)
		return NULL;
	json_object_foreach(s->accounts, uid, acct) json_array_append(list, acct);
	return json_pack("{s:o, s:I}", "accounts", list, "meeting_count",
			 (json_int_t)json_object_size(s->meetings));
}
