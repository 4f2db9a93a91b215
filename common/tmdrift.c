/* tmdrift: the comparison as a loop over a table of the four fields, so the order of account.create
 * (and of account.queried's drift list) is written once. */
#include "tmdrift.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define GONE_REASON_MAX 1024 /* longer Reasons are looked at up to here */

static const char *const FIELD_NAMES[TMDRIFT_FIELD_COUNT] = {
    [TMDRIFT_COMPANY_NAME] = "company_name",
    [TMDRIFT_EMAIL] = "email",
    [TMDRIFT_ROOMS] = "rooms",
    [TMDRIFT_PARTICIPANTS] = "participants",
};

const char *
tmdrift_field_name(enum tmdrift_field f)
{
	return (unsigned)f < TMDRIFT_FIELD_COUNT ? FIELD_NAMES[f] : NULL;
}

static const char *
text_of(const struct tmdrift_account *a, enum tmdrift_field f)
{
	const char *s = f == TMDRIFT_COMPANY_NAME ? a->company_name : a->email;

	return s ? s : "";
}

static long
count_of(const struct tmdrift_account *a, enum tmdrift_field f)
{
	return f == TMDRIFT_ROOMS ? a->rooms : a->participants;
}

static bool
is_text(enum tmdrift_field f)
{
	return f == TMDRIFT_COMPANY_NAME || f == TMDRIFT_EMAIL;
}

unsigned
tmdrift_compare(const struct tmdrift_account *ours, const struct tmdrift_account *tm)
{
	unsigned mask = 0;

	for (unsigned f = 0; f < TMDRIFT_FIELD_COUNT; f++) {
		bool differs = is_text(f) ? strcmp(text_of(ours, f), text_of(tm, f)) != 0
					  : count_of(ours, f) != count_of(tm, f);

		if (differs)
			mask |= 1u << f;
	}
	return mask;
}

void
tmdrift_value(const struct tmdrift_account *a, enum tmdrift_field f, char *out, size_t outlen)
{
	if (is_text(f))
		snprintf(out, outlen, "%s", text_of(a, f));
	else
		snprintf(out, outlen, "%ld", count_of(a, f));
}

static json_t *
value_json(const struct tmdrift_account *a, enum tmdrift_field f)
{
	return is_text(f) ? json_string(text_of(a, f)) : json_integer((json_int_t)count_of(a, f));
}

json_t *
tmdrift_json(unsigned mask, const struct tmdrift_account *ours, const struct tmdrift_account *tm)
{
	json_t *list = json_array();

	for (unsigned f = 0; list != NULL && f < TMDRIFT_FIELD_COUNT; f++) {
		json_t *d;

		if (!(mask & (1u << f)))
			continue;
		d = json_pack("{s:s, s:o, s:o}", "field", FIELD_NAMES[f], "ours",
			      value_json(ours, f), "tm", value_json(tm, f));
		if (d == NULL || json_array_append_new(list, d) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return list;
}

bool
tmdrift_gone(const char *reason)
{
	static const char *const phrases[] = {"no such", "not exist", "n't exist", "not found"};
	char low[GONE_REASON_MAX + 1];
	size_t i;

	if (reason == NULL)
		return false;
	for (i = 0; reason[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)reason[i]);
	low[i] = '\0';
	for (i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (strstr(low, phrases[i]) != NULL)
			return true;
	return false;
}
