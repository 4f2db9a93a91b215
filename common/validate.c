/* validate: parses and checks tm.commands messages. The rules are tables mirroring
 * schemas/common.json, schemas/command.schema.json and the schemas/data/ files; each pattern
 * function names the schema regex it implements, in ECMA-262 meaning ($ = end of string). */
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dlqdef.h"

typedef bool (*pattern_fn)(const char *s, size_t len);

enum value_kind { VALUE_STRING, VALUE_INTEGER };

/* One schema definition of common.json: a string (min/max in code points, like
 * minLength/maxLength) or an integer (minimum/maximum). */
struct value_rule {
	enum value_kind kind;
	long min, max;
	pattern_fn pattern; /* NULL: any characters */
	const char *what;   /* the error when pattern fails */
};

struct data_field {
	const char *name;
	const struct value_rule *rule;
	bool required;
};

struct data_rule {
	const struct data_field *fields;
	size_t nfields;
	bool no_data;		  /* data absent, null or {} */
	size_t min_fields;	  /* minProperties */
	const char *exclusive[2]; /* not: required both */
};

struct attr_rule {
	const char *name;
	const struct value_rule *rule; /* NULL: constant or any value */
	const char *constant;	       /* NULL: rule or any value */
	bool required;
};

static const char *const CMD_NAMES[CMD_TYPE_COUNT] = {
    [CMD_ACCOUNT_CREATE] = "account.create",	 [CMD_ACCOUNT_UPDATE] = "account.update",
    [CMD_ACCOUNT_DELETE] = "account.delete",	 [CMD_ACCOUNT_QUERY] = "account.query",
    [CMD_USER_UPSERT] = "user.upsert",		 [CMD_USER_DELETE] = "user.delete",
    [CMD_MEETING_SCHEDULE] = "meeting.schedule", [CMD_MEETING_CANCEL] = "meeting.cancel",
};

/* The verdicts after VALIDATE_OK are the first DLQ reasons, in the same order: their names come
 * from that one table (common/dlqdef.c). */
_Static_assert(VALIDATE_TOO_LARGE - 1 == DLQ_REASON_TOO_LARGE &&
		   VALIDATE_INVALID - 1 == DLQ_REASON_INVALID,
	       "enum validate_status and enum dlq_reason disagree");

/* ---------------------------------------------------------------- patterns */

static bool
is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ^[!-~]*$ */
static bool
pat_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < '!' || (unsigned char)s[i] > '~')
			return false;
	return true;
}

/* ^[A-Za-z0-9][A-Za-z0-9._:@-]*$ */
static bool
pat_ident(const char *s, size_t len)
{
	if (len == 0 || !is_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("._:@-", s[i]))
			return false;
	return true;
}

/* ^[^\u0000-\u001F\u007F-\u009F]*$ : no C0, DEL or C1 control characters. The input is
 * well-formed UTF-8, and U+0080..U+009F are encoded C2 80..C2 9F. */
static bool
pat_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

/* ^[a-z0-9]{1,20}$ : CloudEvents attribute names. */
static bool
pat_attr_name(const char *s, size_t len)
{
	if (len < 1 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || is_digit((unsigned char)s[i])))
			return false;
	return true;
}

/* One domain label: [A-Za-z0-9]+(?:-+[A-Za-z0-9]+)* , i.e. letters, digits and hyphens,
 * starting and ending with a letter or digit. */
static bool
email_label(const char *s, size_t len)
{
	if (len == 0 || !is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* ^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@LABEL(?:\.LABEL)+$ */
static bool
pat_email(const char *s, size_t len)
{
	size_t at = 0, start, labels = 0;

	while (at < len &&
	       (is_alnum((unsigned char)s[at]) || strchr(".!#$%&'*+/=?^_`{|}~-", s[at])))
		at++;
	if (at == 0 || at == len || s[at] != '@')
		return false;
	start = at + 1;
	for (size_t i = start; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!email_label(s + start, i - start))
			return false;
		labels++;
		start = i + 1;
	}
	return labels >= 2;
}

/* Skips [0-9]+ at *i; false when there is no digit. */
static bool
skip_digits(const char *s, size_t len, size_t *i)
{
	size_t from = *i;

	while (*i < len && is_digit((unsigned char)s[*i]))
		(*i)++;
	return *i > from;
}

/* Skips [A-Za-z0-9+/]+ at *i; false when there is no such character. */
static bool
skip_b64(const char *s, size_t len, size_t *i)
{
	size_t from = *i;

	while (*i < len && (is_alnum((unsigned char)s[*i]) || s[*i] == '+' || s[*i] == '/'))
		(*i)++;
	return *i > from;
}

/* Matches the literal lit at *i and moves past it. */
static bool
skip_lit(const char *s, size_t len, size_t *i, const char *lit)
{
	size_t n = strlen(lit);

	if (len - *i < n || memcmp(s + *i, lit, n) != 0)
		return false;
	*i += n;
	return true;
}

/* ^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$ */
static bool
pat_argon2id(const char *s, size_t len)
{
	size_t i = 0;

	return skip_lit(s, len, &i, "$argon2id$v=19$m=") && skip_digits(s, len, &i) &&
	       skip_lit(s, len, &i, ",t=") && skip_digits(s, len, &i) &&
	       skip_lit(s, len, &i, ",p=") && skip_digits(s, len, &i) &&
	       skip_lit(s, len, &i, "$") && skip_b64(s, len, &i) && skip_lit(s, len, &i, "$") &&
	       skip_b64(s, len, &i) && i == len;
}

/* n fixed digits at s as a number, or -1. */
static int
fixed_num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* The timestamp regex of common.json: YYYY-MM-DDTHH:MM:SS(\.[0-9]{1,9})?(Z|[+-]HH:MM) with a
 * real calendar date (Gregorian leap years), hours 00-23, minutes and seconds 00-59. */
static bool
pat_timestamp(const char *s, size_t len)
{
	int y, mo, d, h, mi, se;
	size_t i = 19, frac;

	if (len < 20)
		return false;
	y = fixed_num(s, 4);
	mo = fixed_num(s + 5, 2);
	d = fixed_num(s + 8, 2);
	h = fixed_num(s + 11, 2);
	mi = fixed_num(s + 14, 2);
	se = fixed_num(s + 17, 2);
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return false;
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return false;
	if (s[i] == '.') {
		frac = ++i;
		if (!skip_digits(s, len, &i) || i - frac > 9)
			return false;
	}
	if (i < len && s[i] == 'Z')
		return i + 1 == len;
	if (i >= len || (s[i] != '+' && s[i] != '-') || len - i != 6 || s[i + 3] != ':')
		return false;
	h = fixed_num(s + i + 1, 2);
	mi = fixed_num(s + i + 4, 2);
	return h >= 0 && h <= 23 && mi >= 0 && mi <= 59;
}

/* ------------------------------------------------------------------ rules */

static const struct value_rule V_EVENT_ID = {VALUE_STRING, 1, 128, pat_printable,
					     "must be printable ASCII without spaces"};
static const struct value_rule V_SOURCE = {VALUE_STRING, 1, 256, pat_printable,
					   "must be printable ASCII without spaces"};
static const struct value_rule V_TYPE_NAME = {VALUE_STRING, 1, 128, pat_printable,
					      "must be printable ASCII without spaces"};
static const struct value_rule V_SUBJECT = {
    VALUE_STRING, 1, 128, pat_ident,
    "must be letters, digits and ._:@- starting with a letter or digit"};
static const struct value_rule V_TIMESTAMP = {
    VALUE_STRING, 0, 35, pat_timestamp,
    "must be an RFC 3339 date-time like 2026-11-28T10:00:00Z (real date, T and Z upper case)"};
static const struct value_rule V_COMPANY_NAME = {VALUE_STRING, 1, 128, pat_text,
						 "must not contain control characters"};
static const struct value_rule V_EMAIL = {VALUE_STRING, 3, 254, pat_email,
					  "must be an email address like name@example.com"};
static const struct value_rule V_ROOMS = {VALUE_INTEGER, 1, 10000, NULL, NULL};
static const struct value_rule V_PARTICIPANTS = {VALUE_INTEGER, 1, 100000, NULL, NULL};
static const struct value_rule V_USER_ID = {
    VALUE_STRING, 1, 64, pat_ident,
    "must be letters, digits and ._:@- starting with a letter or digit"};
static const struct value_rule V_PERSON_NAME = {VALUE_STRING, 1, 64, pat_text,
						"must not contain control characters"};
static const struct value_rule V_PASSWORD = {VALUE_STRING, 8, 256, pat_text,
					     "must not contain control characters"};
static const struct value_rule V_PASSWORD_DIGEST = {
    VALUE_STRING, 1, 256, pat_argon2id,
    "must be an argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)"};
static const struct value_rule V_TOPIC = {VALUE_STRING, 1, 256, pat_text,
					  "must not contain control characters"};
static const struct value_rule V_MEETING_ID = {
    VALUE_STRING, 1, 64, pat_ident,
    "must be letters, digits and ._:@- starting with a letter or digit"};

/* command.schema.json #/$defs/envelope; "data" is any value here, checked per type. */
static const struct attr_rule ENVELOPE[] = {
    {"specversion", NULL, "1.0", true},
    {"id", &V_EVENT_ID, NULL, true},
    {"source", &V_SOURCE, NULL, true},
    {"type", &V_TYPE_NAME, NULL, true},
    {"subject", &V_SUBJECT, NULL, true},
    {"time", &V_TIMESTAMP, NULL, false},
    {"datacontenttype", NULL, "application/json", false},
    {"data", NULL, NULL, false},
};
#define ENVELOPE_N (sizeof ENVELOPE / sizeof ENVELOPE[0])

static const struct data_field F_ACCOUNT_CREATE[] = {
    {"company_name", &V_COMPANY_NAME, true},
    {"email", &V_EMAIL, true},
    {"rooms", &V_ROOMS, true},
    {"participants", &V_PARTICIPANTS, true},
};
static const struct data_field F_ACCOUNT_UPDATE[] = {
    {"company_name", &V_COMPANY_NAME, false},
    {"email", &V_EMAIL, false},
    {"rooms", &V_ROOMS, false},
    {"participants", &V_PARTICIPANTS, false},
};
static const struct data_field F_USER_UPSERT[] = {
    {"user_id", &V_USER_ID, true},	  {"email", &V_EMAIL, true},
    {"first_name", &V_PERSON_NAME, true}, {"last_name", &V_PERSON_NAME, true},
    {"password", &V_PASSWORD, false},	  {"password_digest", &V_PASSWORD_DIGEST, false},
};
static const struct data_field F_USER_DELETE[] = {
    {"user_id", &V_USER_ID, true},
};
static const struct data_field F_MEETING_SCHEDULE[] = {
    {"user_id", &V_USER_ID, true},
    {"topic", &V_TOPIC, true},
    {"start_time", &V_TIMESTAMP, true},
};
static const struct data_field F_MEETING_CANCEL[] = {
    {"meeting_id", &V_MEETING_ID, true},
};

#define FIELDS(f) f, sizeof f / sizeof f[0]

/* schemas/data/<type>.json, by command type. */
static const struct data_rule DATA_RULES[CMD_TYPE_COUNT] = {
    [CMD_ACCOUNT_CREATE] = {FIELDS(F_ACCOUNT_CREATE), false, 0, {NULL, NULL}},
    [CMD_ACCOUNT_UPDATE] = {FIELDS(F_ACCOUNT_UPDATE), false, 1, {NULL, NULL}},
    [CMD_ACCOUNT_DELETE] = {NULL, 0, true, 0, {NULL, NULL}},
    [CMD_ACCOUNT_QUERY] = {NULL, 0, true, 0, {NULL, NULL}},
    [CMD_USER_UPSERT] = {FIELDS(F_USER_UPSERT), false, 0, {"password", "password_digest"}},
    [CMD_USER_DELETE] = {FIELDS(F_USER_DELETE), false, 0, {NULL, NULL}},
    [CMD_MEETING_SCHEDULE] = {FIELDS(F_MEETING_SCHEDULE), false, 0, {NULL, NULL}},
    [CMD_MEETING_CANCEL] = {FIELDS(F_MEETING_CANCEL), false, 0, {NULL, NULL}},
};

/* ----------------------------------------------------------------- errors */

/* Copies a message-supplied name into dst as printable ASCII, shortened, so that error
 * messages stay readable and cannot smuggle control characters into logs. */
static void
safe_name(char *dst, size_t dstlen, const char *name)
{
	size_t i = 0, max = dstlen - 4;

	for (; name[i] && i < max; i++)
		dst[i] = (name[i] >= '!' && name[i] <= '~') ? name[i] : '?';
	if (name[i]) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

/* Adds "<prefix>.<name>: <text>" (either part may be NULL) to errs. */
static void __attribute__((format(printf, 4, 5)))
err_add(struct validate_errors *errs, const char *prefix, const char *name, const char *fmt, ...)
{
	char safe[48], *msg;
	size_t used;
	va_list ap;

	if (!errs)
		return;
	if (errs->n == VALIDATE_MAX_ERRORS) {
		errs->more++;
		return;
	}
	msg = errs->msg[errs->n++];
	if (name)
		safe_name(safe, sizeof safe, name);
	used = (size_t)snprintf(msg, VALIDATE_ERROR_LEN, "%s%s%s: ", prefix ? prefix : "",
				prefix && name ? "." : "", name ? safe : "");
	if (used >= VALIDATE_ERROR_LEN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + used, VALIDATE_ERROR_LEN - used, fmt, ap);
	va_end(ap);
}

/* ----------------------------------------------------------------- checks */

bool
validate_utf8(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f; /* UTF-16 surrogates U+D800..U+DFFF */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false; /* continuation byte, C0/C1 overlong lead, F5..FF */
		}
		if (len - i - 1 < n || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

/* Code points in a well-formed UTF-8 string: JSON Schema's minLength/maxLength unit. */
static size_t
utf8_count(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* JSON Schema "integer": an integer, or a real with no fraction (2.0 is the integer 2). */
static bool
value_integer(const json_t *v, double *out)
{
	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
		return true;
	}
	if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
		*out = json_real_value(v);
		return true;
	}
	return false;
}

/* Checks v against r; adds one error naming prefix.name on failure. Returns 0 or -1. */
static int
value_check(const json_t *v, const struct value_rule *r, const char *prefix, const char *name,
	    struct validate_errors *errs)
{
	const char *s;
	size_t len, chars;
	double d;

	if (r->kind == VALUE_INTEGER) {
		if (!value_integer(v, &d) || d < (double)r->min || d > (double)r->max) {
			err_add(errs, prefix, name, "must be an integer from %ld to %ld", r->min,
				r->max);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		err_add(errs, prefix, name, "must be a string");
		return -1;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	chars = utf8_count(s, len);
	if (chars < (size_t)r->min || chars > (size_t)r->max) {
		err_add(errs, prefix, name, "must be %ld to %ld characters long", r->min, r->max);
		return -1;
	}
	if (r->pattern && !r->pattern(s, len)) {
		err_add(errs, prefix, name, "%s", r->what);
		return -1;
	}
	return 0;
}

/* Whether v is a string passing r: the test for a usable id and subject. */
static bool
value_ok(const json_t *v, const struct value_rule *r)
{
	return v && value_check(v, r, NULL, NULL, NULL) == 0;
}

static const struct attr_rule *
envelope_rule(const char *name)
{
	for (size_t i = 0; i < ENVELOPE_N; i++)
		if (strcmp(ENVELOPE[i].name, name) == 0)
			return &ENVELOPE[i];
	return NULL;
}

/* command.schema.json #/$defs/envelope. Returns 0 or -1 with every failure in errs. */
static int
envelope_check(json_t *root, struct validate_errors *errs)
{
	const char *key;
	json_t *v;
	int rc = 0;

	for (size_t i = 0; i < ENVELOPE_N; i++) {
		const struct attr_rule *a = &ENVELOPE[i];

		v = json_object_get(root, a->name);
		if (!v) {
			if (a->required) {
				err_add(errs, NULL, a->name, "is required");
				rc = -1;
			}
		} else if (a->constant) {
			if (!json_is_string(v) || strcmp(json_string_value(v), a->constant) != 0) {
				err_add(errs, NULL, a->name, "must be \"%s\"", a->constant);
				rc = -1;
			}
		} else if (a->rule && value_check(v, a->rule, NULL, a->name, errs) < 0) {
			rc = -1;
		}
	}
	/* Everything else is an extension attribute (replayof, ...). */
	json_object_foreach(root, key, v)
	{
		if (envelope_rule(key))
			continue;
		if (!pat_attr_name(key, strlen(key))) {
			err_add(errs, NULL, key,
				"is not a CloudEvents attribute name (a-z0-9, 1-20)");
			rc = -1;
		} else if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
			err_add(errs, NULL, key,
				"an extension attribute must be a string, number or "
				"boolean");
			rc = -1;
		}
	}
	return rc;
}

static bool
data_field_known(const struct data_rule *r, const char *name)
{
	for (size_t i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return true;
	return false;
}

/* "data" of a type without data (account.delete, account.query): absent, null or {}. */
static int
data_check_none(const json_t *data, struct validate_errors *errs)
{
	const char *key;
	json_t *v;
	int rc = 0;

	if (!data || json_is_null(data))
		return 0;
	if (!json_is_object(data)) {
		err_add(errs, "data", NULL, "must be absent, null or an empty object");
		return -1;
	}
	json_object_foreach((json_t *)data, key, v)
	{
		err_add(errs, "data", key, "is not allowed (this command takes no data)");
		rc = -1;
	}
	return rc;
}

/* Lists the field names of r, comma separated, into dst. */
static void
field_list(const struct data_rule *r, char *dst, size_t dstlen)
{
	size_t used = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < r->nfields && used < dstlen; i++)
		used += (size_t)snprintf(dst + used, dstlen - used, "%s%s", i ? ", " : "",
					 r->fields[i].name);
}

/* schemas/data/<type>.json for a type with fields. Returns 0 or -1. */
static int
data_check_fields(const struct data_rule *r, const json_t *data, struct validate_errors *errs)
{
	char list[128];
	const char *key;
	json_t *v;
	int rc = 0;

	if (!data) {
		err_add(errs, "data", NULL, "is required");
		return -1;
	}
	if (!json_is_object(data)) {
		err_add(errs, "data", NULL, "must be an object");
		return -1;
	}
	for (size_t i = 0; i < r->nfields; i++) {
		const struct data_field *f = &r->fields[i];

		v = json_object_get(data, f->name);
		if (!v) {
			if (f->required) {
				err_add(errs, "data", f->name, "is required");
				rc = -1;
			}
		} else if (value_check(v, f->rule, "data", f->name, errs) < 0) {
			rc = -1;
		}
	}
	json_object_foreach((json_t *)data, key, v)
	{
		if (!data_field_known(r, key)) {
			err_add(errs, "data", key, "is not allowed");
			rc = -1;
		}
	}
	if (json_object_size(data) < r->min_fields) {
		field_list(r, list, sizeof list);
		err_add(errs, "data", NULL, "must have at least %zu of %s", r->min_fields, list);
		rc = -1;
	}
	if (r->exclusive[0] && json_object_get(data, r->exclusive[0]) &&
	    json_object_get(data, r->exclusive[1])) {
		err_add(errs, "data", r->exclusive[1], "must not be given together with data.%s",
			r->exclusive[0]);
		rc = -1;
	}
	return rc;
}

/* Replaces integral reals (2.0) of integer fields by integers, so that callers can use
 * json_integer_value. Only after data_check_fields passed: the values are in range. */
static void
data_normalise(const struct data_rule *r, json_t *data)
{
	for (size_t i = 0; i < r->nfields; i++) {
		json_t *v = json_object_get(data, r->fields[i].name);

		if (r->fields[i].rule->kind == VALUE_INTEGER && json_is_real(v))
			json_object_set_new(data, r->fields[i].name,
					    json_integer((json_int_t)json_real_value(v)));
	}
}

/* Size, UTF-8 and JSON. On VALIDATE_OK *root is the parsed document. */
static enum validate_status
precheck(const char *buf, size_t len, json_t **root, struct validate_errors *errs)
{
	json_error_t jerr;

	*root = NULL;
	if (len > VALIDATE_MAX_BYTES) {
		err_add(errs, "message", NULL, "is %zu bytes, more than %d", len,
			VALIDATE_MAX_BYTES);
		return VALIDATE_TOO_LARGE;
	}
	if (!validate_utf8(buf, len)) {
		err_add(errs, "message", NULL, "is not well-formed UTF-8");
		return VALIDATE_NOT_UTF8;
	}
	/* DECODE_ANY: a bare scalar is JSON, just not a CloudEvent. jansson's own limits (no
	 * \u0000, int64 integers, finite reals, depth 2048) are part of the contract. */
	*root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!*root) {
		/* jerr.text may quote the input: only the position is reported. */
		err_add(errs, "message", NULL, "is not JSON (line %d, column %d)", jerr.line,
			jerr.column);
		return VALIDATE_NOT_JSON;
	}
	return VALIDATE_OK;
}

/* Envelope, type and data of a parsed object; fills cmd's fields. */
static enum validate_status
command_check(struct command *cmd, struct validate_errors *errs)
{
	const struct data_rule *r;
	json_t *v;

	v = json_object_get(cmd->root, "source");
	cmd->source = json_is_string(v) ? json_string_value(v) : NULL;
	v = json_object_get(cmd->root, "type");
	cmd->type = json_is_string(v) ? json_string_value(v) : NULL;
	cmd->data = json_object_get(cmd->root, "data");
	cmd->kind = cmd_type_parse(cmd->type);
	if (envelope_check(cmd->root, errs) < 0)
		return VALIDATE_NOT_CLOUDEVENT;
	if (cmd->kind == CMD_UNKNOWN) {
		err_add(errs, NULL, "type", "is not a known command type");
		return VALIDATE_UNKNOWN_TYPE;
	}
	r = &DATA_RULES[cmd->kind];
	if (r->no_data) {
		if (data_check_none(cmd->data, errs) < 0)
			return VALIDATE_INVALID;
		if (json_is_null(cmd->data))
			cmd->data = NULL;
		return VALIDATE_OK;
	}
	if (data_check_fields(r, cmd->data, errs) < 0)
		return VALIDATE_INVALID;
	data_normalise(r, cmd->data);
	return VALIDATE_OK;
}

enum validate_status
command_parse(const char *buf, size_t len, struct command **out, struct validate_errors *errs)
{
	enum validate_status st;
	struct command *cmd = NULL;
	json_t *root = NULL, *id, *subject;

	*out = NULL;
	if (errs) {
		errs->n = 0;
		errs->more = 0;
	}
	st = precheck(buf, len, &root, errs);
	if (st != VALIDATE_OK)
		goto out;
	if (!json_is_object(root)) {
		err_add(errs, "message", NULL, "must be a JSON object");
		st = VALIDATE_NOT_CLOUDEVENT;
		goto out;
	}
	cmd = calloc(1, sizeof *cmd);
	if (!cmd) {
		/* Running out of memory says nothing about the message: filing a good command as
		 * rejected would be worse than a restart, which redelivers it (offset uncommitted).
		 */
		abort();
	}
	cmd->root = root; /* cmd owns the document from here */
	root = NULL;
	st = command_check(cmd, errs);
	id = json_object_get(cmd->root, "id");
	subject = json_object_get(cmd->root, "subject");
	if (!value_ok(id, &V_EVENT_ID) || !value_ok(subject, &V_SUBJECT)) {
		command_free(cmd);
		cmd = NULL;
		goto out;
	}
	cmd->id = json_string_value(id);
	cmd->subject = json_string_value(subject);
out:
	json_decref(root);
	*out = cmd;
	return st;
}

/* ------------------------------------------------------------ binary mode */

#define CE_PREFIX	 "ce_"
#define CE_STRUCTURED_CT "application/cloudevents"

bool
command_is_binary(const struct ce_header *h, size_t n)
{
	bool spec = false;

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "content-type") == 0 && h[i].value != NULL &&
		    h[i].len >= strlen(CE_STRUCTURED_CT) &&
		    strncasecmp(h[i].value, CE_STRUCTURED_CT, strlen(CE_STRUCTURED_CT)) == 0)
			return false;
		if (strcmp(h[i].name, CE_PREFIX "specversion") == 0)
			spec = true;
	}
	return spec;
}

/* Appends "s" (s[0..len) as a JSON string: '"', '\\' and control bytes escaped, other bytes as
 * they are) to b. 0 or a BUF_ error. */
static int
text_append_string(struct buf *b, const char *s, size_t len)
{
	int rc = buf_append(b, "\"", 1);

	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			rc = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_printf(b, "\\u%04x", c);
		else
			rc = buf_append(b, &s[i], 1);
	}
	return rc ? rc : buf_append(b, "\"", 1);
}

/* "name":"value" (value NULL: null), after a comma unless it is the first. */
static int
text_append_attr(struct buf *b, const char *name, size_t namelen, const struct ce_header *h)
{
	int rc = b->len > 1 ? buf_append(b, ",", 1) : 0;

	if (rc == 0)
		rc = text_append_string(b, name, namelen);
	if (rc == 0)
		rc = buf_append(b, ":", 1);
	if (rc == 0)
		rc = h->value == NULL ? buf_appends(b, "null")
				      : text_append_string(b, h->value, h->len);
	return rc;
}

/* The object of h's attributes and the value as data, into b. 0 or a BUF_ error. */
static int
text_event(struct buf *b, const struct ce_header *h, size_t n, const char *value, size_t len)
{
	const size_t plen = strlen(CE_PREFIX);
	int rc = buf_append(b, "{", 1);

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strncmp(h[i].name, CE_PREFIX, plen) == 0)
			rc = text_append_attr(b, h[i].name + plen, strlen(h[i].name) - plen, &h[i]);
		else if (strcasecmp(h[i].name, "content-type") == 0)
			rc = text_append_attr(b, "datacontenttype", strlen("datacontenttype"),
					      &h[i]);
	}
	if (rc == 0 && value != NULL && len > 0) {
		rc = buf_appends(b, b->len > 1 ? ",\"data\":" : "\"data\":");
		if (rc == 0)
			rc = buf_append(b, value, len);
	}
	return rc ? rc : buf_append(b, "}", 1);
}

enum validate_status
command_binary_text(const struct ce_header *h, size_t n, const char *value, size_t len, char **text,
		    size_t *textlen, struct validate_errors *errs)
{
	enum validate_status st = VALIDATE_OK;
	json_t *data = NULL;
	struct buf b;
	int rc;

	*text = NULL;
	*textlen = 0;
	if (errs) {
		errs->n = 0;
		errs->more = 0;
	}
	/* The value alone must be one JSON value: pasted in as data, it can then neither close
	 * the object early nor add attributes the headers do not have. */
	if (value != NULL && len > 0) {
		st = precheck(value, len, &data, errs);
		json_decref(data);
		if (st != VALIDATE_OK)
			return st;
	}
	/* Headers have no size limit of their own: the ceiling is what command_parse would still
	 * read, plus one byte so that it can tell the event is too large. */
	buf_init(&b, VALIDATE_MAX_BYTES + 1);
	rc = text_event(&b, h, n, value, len);
	if (rc == BUF_NOMEM)
		abort(); /* as in command_parse: says nothing about the message */
	if (rc == BUF_TOO_LARGE) {
		buf_free(&b);
		err_add(errs, "message", NULL, "is more than %d bytes", VALIDATE_MAX_BYTES);
		return VALIDATE_TOO_LARGE;
	}
	*text = buf_take(&b, textlen);
	return VALIDATE_OK;
}

void
command_free(struct command *cmd)
{
	if (!cmd)
		return;
	json_decref(cmd->root);
	free(cmd);
}

const char *
cmd_type_name(enum cmd_type kind)
{
	if ((int)kind <= CMD_UNKNOWN || (int)kind >= CMD_TYPE_COUNT)
		return NULL;
	return CMD_NAMES[kind];
}

enum cmd_type
cmd_type_parse(const char *name)
{
	if (!name)
		return CMD_UNKNOWN;
	for (int k = CMD_UNKNOWN + 1; k < CMD_TYPE_COUNT; k++)
		if (strcmp(CMD_NAMES[k], name) == 0)
			return (enum cmd_type)k;
	return CMD_UNKNOWN;
}

const char *
validate_status_name(enum validate_status status)
{
	if ((int)status < 0 || (int)status >= VALIDATE_STATUS_COUNT)
		return NULL;
	if (status == VALIDATE_OK)
		return "ok";
	return dlq_reason_name((enum dlq_reason)(status - 1));
}
