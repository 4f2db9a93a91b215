/* tmdrift: where TM's view of an account (query_account's four values) differs from our record,
 * and whether a FAILED answer says TM has no such account; account.queried and reconcile share it.
 */
#ifndef TMPROV_TMDRIFT_H
#define TMPROV_TMDRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The four values TM keeps and returns, in the order of account.create. */
enum tmdrift_field {
	TMDRIFT_COMPANY_NAME,
	TMDRIFT_EMAIL,
	TMDRIFT_ROOMS,
	TMDRIFT_PARTICIPANTS,
	TMDRIFT_FIELD_COUNT
};

/* One side's values; strings borrowed (NULL reads as ""). */
struct tmdrift_account {
	const char *company_name;
	const char *email;
	long rooms;
	long participants;
};

/* "company_name", "email", "rooms", "participants" (as in account.create); NULL out of range. */
const char *tmdrift_field_name(enum tmdrift_field f);

/* The fields where tm differs from ours, as a mask of (1u << field); 0 when in step. Text
 * compares byte for byte: TM is expected to keep what we sent exactly, so any difference, even
 * of case or spacing, is worth an operator's look. */
unsigned tmdrift_compare(const struct tmdrift_account *ours, const struct tmdrift_account *tm);

/* The value of field f of a, as text (numbers in decimal), into out. */
void tmdrift_value(const struct tmdrift_account *a, enum tmdrift_field f, char *out, size_t outlen);

/* [{"field": name, "ours": value, "tm": value}, ...] for the fields of mask, in field order,
 * values typed as in account.create. NULL when out of memory. */
json_t *tmdrift_json(unsigned mask, const struct tmdrift_account *ours,
		     const struct tmdrift_account *tm);

/* Whether the Reason of TM's FAILED answer says the account does not exist. The spec leaves
 * FAILED reasons free text ("If the user account has been deleted, FAILED will be returned");
 * these are the phrasings seen (tests/data/tm/delete_failed_unknown.xml, tmsim's "company_uid
 * does not exist"), compared without regard to case. NULL: false. */
bool tmdrift_gone(const char *reason);

#endif
