/* cmd_import: `tmprov import FILE.csv`, bulk onboarding: each row of a customer CSV becomes an
 * account.create and, when the row names a user, a user.upsert, with ids derived from the row's
 * content, so that importing the same file again sends the same commands and changes nothing. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "clicfg.h"
#include "csv.h"
#include "idmap.h"
#include "sender.h"
#include "validate.h"

static const char IMPORT_USAGE[] =
    "usage: tmprov import [--wait [--timeout D]] [--dry-run] [--config FILE] [--print-config]\n"
    "                     FILE.csv\n"
    "\n"
    "Onboards customers from a CSV file (RFC 4180; a header row names the columns, in any\n"
    "order): subject, company_name, email, rooms, participants, and optionally a first user:\n"
    "user_id, user_email, first_name, last_name, password. Each row becomes an account.create\n"
    "and, when user_id is filled, a user.upsert, sent to TMPROV_TOPIC_COMMANDS keyed by the\n"
    "subject. Command ids are derived from the row (import:SUBJECT:TYPE:HASH; the password is\n"
    "not part of the hash), so importing the same file again sends the same ids and the worker\n"
    "does nothing twice. A row repeating an earlier one is sent once; more users of one\n"
    "customer go on further rows with the same account columns.\n"
    "\n"
    "Every row is checked first as the worker will check its commands; a bad row is reported\n"
    "with its line number and not sent, the good rows are.\n"
    "\n"
    "  --wait          follow TMPROV_TOPIC_EVENTS until every command sent has its outcome,\n"
    "                  then print a summary: succeeded, failed and rejected, with reasons\n"
    "  --timeout D     stop waiting after D (e.g. 90s, 10m; default 5m)\n"
    "  --dry-run       check the file and report bad rows; send nothing\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 every row sent (with --wait: and every command succeeded), 1 otherwise,\n"
    "2 usage or configuration error.\n";

enum col {
	C_SUBJECT,
	C_COMPANY,
	C_EMAIL,
	C_ROOMS,
	C_PARTICIPANTS,
	C_USER_ID,
	C_USER_EMAIL,
	C_FIRST,
	C_LAST,
	C_PASSWORD,
	C_COUNT
};

static const char *const COL_NAME[C_COUNT] = {
    "subject", "company_name", "email",	     "rooms",	  "participants",
    "user_id", "user_email",   "first_name", "last_name", "password",
};
#define C_REQUIRED C_USER_ID /* the columns before it are required */

#define IMPORT_SOURCE  "tmprov-import"
#define IMPORT_ID_MAX  128 /* common.json event_id */
#define IMPORT_MAX_ERR 1024

/* What the file has sent so far, to find repeats. */
struct import_state {
	int col[C_COUNT]; /* field index of each column, -1 when absent */
	size_t ncols;
	struct idmap *ids;	/* command id -> struct seen */
	struct idmap *subjects; /* subject -> struct seen (id = its account.create) */
	struct sender *snd;
	long rows, good, repeated, bad, sent[2];
};

struct seen {
	long line;
	char id[IMPORT_ID_MAX + 1];
	unsigned char sha[crypto_hash_sha256_BYTES];
};

/* One command built from a row. */
struct built {
	const char *type;
	char id[IMPORT_ID_MAX + 1];
	char *text;
	size_t len;
};

/* Maps the header row to the columns. 0, or -1 after reporting what is wrong with it. */
static int
import_header(struct import_state *st, const struct csv_reader *r)
{
	int rc = 0;

	for (int c = 0; c < C_COUNT; c++)
		st->col[c] = -1;
	st->ncols = csv_nfields(r);
	for (size_t i = 0; i < st->ncols; i++) {
		const char *h = csv_field(r, i);
		size_t lead = strspn(h, " \t"), n = strlen(h + lead);
		int c;

		while (n > 0 && (h[lead + n - 1] == ' ' || h[lead + n - 1] == '\t'))
			n--;
		for (c = 0; c < C_COUNT; c++)
			if (strlen(COL_NAME[c]) == n && strncasecmp(h + lead, COL_NAME[c], n) == 0)
				break;
		if (c == C_COUNT) {
			fprintf(stderr, "line %ld: unknown column \"%.*s\"\n", csv_line(r), (int)n,
				h + lead);
			rc = -1;
		} else if (st->col[c] >= 0) {
			fprintf(stderr, "line %ld: column %s appears twice\n", csv_line(r),
				COL_NAME[c]);
			rc = -1;
		} else {
			st->col[c] = (int)i;
		}
	}
	for (int c = 0; c < C_REQUIRED; c++) {
		if (st->col[c] < 0) {
			fprintf(stderr, "line %ld: no column %s\n", csv_line(r), COL_NAME[c]);
			rc = -1;
		}
	}
	if (rc != 0)
		fprintf(stderr,
			"the header row must name the columns: subject, company_name, email, "
			"rooms, participants[, user_id, user_email, first_name, last_name, "
			"password]\n");
	return rc;
}

/* A field's value, trimmed of spaces (but the password, kept as typed); "" when absent. */
static void
import_field(const struct import_state *st, const struct csv_reader *r, enum col c, char *out,
	     size_t outlen)
{
	const char *v = st->col[c] >= 0 ? csv_field(r, (size_t)st->col[c]) : "";
	size_t n;

	if (c != C_PASSWORD)
		v += strspn(v, " \t");
	n = strlen(v);
	if (c != C_PASSWORD)
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
	snprintf(out, outlen, "%.*s", (int)n, v);
}

/* A strict decimal count; anything else (letters, signs, fractions) is -1. */
static long
import_count(const char *s)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 9)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static bool
import_subject_ok(const char *s)
{
	static const char extra[] = "._:@-";

	if (*s == '\0' || strlen(s) > 60)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || (p > s && strchr(extra, *p))))
			return false;
	return true;
}

/* import:SUBJECT:TYPE:HASH, HASH the first 16 hex digits of the sha256 of the values that make
 * the command (NUL-separated); a subject too long or unusable in an id is hashed in as well. */
static void
import_id(char out[IMPORT_ID_MAX + 1], const char *type, const char *subject,
	  const char *const *vals, size_t n)
{
	crypto_hash_sha256_state h;
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const unsigned char *)type, strlen(type) + 1);
	crypto_hash_sha256_update(&h, (const unsigned char *)subject, strlen(subject) + 1);
	for (size_t i = 0; i < n; i++)
		crypto_hash_sha256_update(&h, (const unsigned char *)vals[i], strlen(vals[i]) + 1);
	crypto_hash_sha256_final(&h, sum);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	if (import_subject_ok(subject))
		snprintf(out, IMPORT_ID_MAX + 1, "import:%s:%s:%.16s", subject, type, hex);
	else
		snprintf(out, IMPORT_ID_MAX + 1, "import:%s:%.40s", type, hex);
}

/* The validator names fields as in the command ("data.email"); the operator knows the CSV's
 * columns, and a user's email is the user_email column. */
static void
import_error(char *errs, size_t len, const char *type, const char *msg)
{
	size_t used = strlen(errs);
	const char *field = msg;

	if (strncmp(msg, "data.", 5) == 0)
		field = msg + 5;
	if (strcmp(type, "user.upsert") == 0 && strncmp(field, "email:", 6) == 0)
		snprintf(errs + used, len - used, "%suser_%s", used ? "; " : "", field);
	else
		snprintf(errs + used, len - used, "%s%s", used ? "; " : "", field);
}

/* Dumps ev into b (compact, in insertion order: the same row gives the same bytes) and checks
 * it as the worker will; problems are appended to errs. */
static void
import_build(struct built *b, json_t *ev, char *errs, size_t errlen)
{
	struct validate_errors ve;
	enum validate_status vs;
	struct command *cmd = NULL;

	b->text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ev);
	if (b->text == NULL) {
		import_error(errs, errlen, b->type, "out of memory");
		return;
	}
	b->len = strlen(b->text);
	vs = command_parse(b->text, b->len, &cmd, &ve);
	command_free(cmd);
	if (vs == VALIDATE_OK)
		return;
	for (size_t i = 0; i < ve.n; i++)
		import_error(errs, errlen, b->type, ve.msg[i]);
}

static json_t *
import_event(const char *id, const char *type, const char *subject, json_t *data)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id,
			 "source", IMPORT_SOURCE, "type", type, "subject", subject,
			 "datacontenttype", "application/json", "data", data);
}

/* Builds the row's commands into b[0] (account.create) and b[1] (user.upsert, text NULL when
 * the row has no user). Returns the number built, or -1 with the row's problems in errs. */
static int
import_row_build(const struct import_state *st, const struct csv_reader *r, struct built b[2],
		 char *errs, size_t errlen)
{
	char v[C_COUNT][512];
	long rooms, participants;
	json_t *data;
	bool has_user = false;

	for (int c = 0; c < C_COUNT; c++) {
		import_field(st, r, (enum col)c, v[c], sizeof(v[c]));
		if (c >= C_USER_ID && v[c][0] != '\0')
			has_user = true;
	}
	rooms = import_count(v[C_ROOMS]);
	participants = import_count(v[C_PARTICIPANTS]);
	if (rooms < 0)
		import_error(errs, errlen, "", "rooms: must be a whole number");
	if (participants < 0)
		import_error(errs, errlen, "", "participants: must be a whole number");
	{
		const char *vals[] = {v[C_COMPANY], v[C_EMAIL], v[C_ROOMS], v[C_PARTICIPANTS]};

		b[0].type = "account.create";
		import_id(b[0].id, b[0].type, v[C_SUBJECT], vals, 4);
		data = json_pack("{s:s, s:s, s:I, s:I}", "company_name", v[C_COMPANY], "email",
				 v[C_EMAIL], "rooms", (json_int_t)(rooms < 0 ? 1 : rooms),
				 "participants", (json_int_t)(participants < 0 ? 1 : participants));
		import_build(&b[0], import_event(b[0].id, b[0].type, v[C_SUBJECT], data), errs,
			     errlen);
	}
	if (has_user) {
		/* Whether a password is given is part of the id, never the password itself: ids
		 * are logged and stored. */
		const char *vals[] = {v[C_USER_ID], v[C_USER_EMAIL], v[C_FIRST], v[C_LAST],
				      v[C_PASSWORD][0] ? "password" : ""};

		b[1].type = "user.upsert";
		import_id(b[1].id, b[1].type, v[C_SUBJECT], vals, 5);
		data = json_object();
		for (int c = C_USER_ID; c < C_COUNT; c++)
			if (v[c][0] != '\0')
				json_object_set_new(data, c == C_USER_EMAIL ? "email" : COL_NAME[c],
						    json_string(v[c]));
		import_build(&b[1], import_event(b[1].id, b[1].type, v[C_SUBJECT], data), errs,
			     errlen);
	}
	sodium_memzero(v[C_PASSWORD], sizeof(v[C_PASSWORD]));
	return errs[0] ? -1 : has_user ? 2 : 1;
}

/* The command's fate within this file: 0 new, 1 a repeat of an earlier row (not sent again),
 * -1 the same id with another body (reported), -2 out of memory. */
static int
import_seen(struct import_state *st, const struct built *b, long line, long *prev)
{
	struct seen *s = calloc(1, sizeof(*s)), *was;
	int same;

	if (s == NULL)
		return -2;
	s->line = line;
	snprintf(s->id, sizeof(s->id), "%s", b->id);
	crypto_hash_sha256(s->sha, (const unsigned char *)b->text, b->len);
	was = idmap_get(st->ids, b->id);
	if (was == NULL) {
		if (idmap_put(st->ids, b->id, s) == 0)
			return 0;
		free(s);
		return -2;
	}
	same = memcmp(was->sha, s->sha, sizeof(s->sha)) == 0;
	free(s);
	*prev = was->line;
	if (same)
		return 1;
	fprintf(stderr, "line %ld: the user repeats line %ld with another password\n", line,
		was->line);
	return -1;
}

/* A subject's account columns must agree on every row that names it. */
static int
import_subject(struct import_state *st, const struct csv_reader *r, const struct built *acct)
{
	char subject[512];
	struct seen *s, *was;

	import_field(st, r, C_SUBJECT, subject, sizeof(subject));
	was = idmap_get(st->subjects, subject);
	if (was != NULL) {
		if (strcmp(was->id, acct->id) == 0)
			return 0;
		fprintf(stderr, "line %ld: subject %s is on line %ld with other account values\n",
			csv_line(r), subject, was->line);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -2;
	s->line = csv_line(r);
	snprintf(s->id, sizeof(s->id), "%s", acct->id);
	if (idmap_put(st->subjects, subject, s) != 0) {
		free(s);
		return -2;
	}
	return 0;
}

/* Spreadsheets end files with rows of empty cells. */
static bool
import_empty(const struct csv_reader *r)
{
	for (size_t i = 0; i < csv_nfields(r); i++)
		if (csv_field(r, i)[strspn(csv_field(r, i), " \t")] != '\0')
			return false;
	return true;
}

/* Checks, and unless dry sends, one row. Returns 0, or -1 when everything must stop. */
static int
import_row(struct import_state *st, const struct csv_reader *r)
{
	struct built b[2] = {{0}, {0}};
	char errs[IMPORT_MAX_ERR] = "", label[32], subject[512], err[512];
	int n, fate[2] = {0, 0}, rc = 0;
	long prev = 0;

	if (import_empty(r))
		return 0;
	st->rows++;
	if (csv_nfields(r) != st->ncols) {
		fprintf(stderr, "line %ld: %zu fields, the header has %zu\n", csv_line(r),
			csv_nfields(r), st->ncols);
		st->bad++;
		return 0;
	}
	n = import_row_build(st, r, b, errs, sizeof(errs));
	if (n < 0) {
		fprintf(stderr, "line %ld: %s\n", csv_line(r), errs);
		st->bad++;
		goto out;
	}
	rc = import_subject(st, r, &b[0]);
	for (int i = 0; i < n && rc == 0; i++) {
		fate[i] = import_seen(st, &b[i], csv_line(r), &prev);
		if (fate[i] < 0)
			rc = fate[i];
	}
	if (rc == -1)
		st->bad++;
	if (rc != 0)
		goto out;
	if (fate[0] == 1 && (n == 1 || fate[1] == 1)) {
		fprintf(stderr, "line %ld: repeats line %ld: sent once\n", csv_line(r), prev);
		st->repeated++;
		goto out;
	}
	st->good++;
	import_field(st, r, C_SUBJECT, subject, sizeof(subject));
	snprintf(label, sizeof(label), "line %ld", csv_line(r));
	for (int i = 0; i < n; i++) {
		if (fate[i] == 1)
			continue;
		if (st->snd != NULL && sender_add(st->snd, b[i].id, subject, b[i].text, b[i].len,
						  label, err, sizeof(err)) != 0) {
			fprintf(stderr, "line %ld: %s not sent: %s\n", csv_line(r), b[i].type, err);
			st->bad++;
			goto out;
		}
		st->sent[i]++;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (b[i].text != NULL)
			sodium_memzero(b[i].text, b[i].len);
		free(b[i].text);
	}
	return rc == -2 ? -1 : 0;
}

/* Every record of the file. Returns 0, or -1 when the file cannot be read as a whole. */
static int
import_rows(struct import_state *st, FILE *in)
{
	struct csv_reader *r = csv_reader_new(in);
	char err[256];
	int rc = -1, got;

	if (r == NULL)
		return -1;
	got = csv_next(r, err, sizeof(err));
	if (got != CSV_RECORD) {
		fprintf(stderr, "line %ld: %s\n", csv_line(r),
			got == CSV_EOF ? "no header row" : err);
		goto out;
	}
	if (import_header(st, r) != 0)
		goto out;
	while ((got = csv_next(r, err, sizeof(err))) != CSV_EOF) {
		if (got == CSV_RECORD) {
			if (import_row(st, r) != 0)
				goto out;
			continue;
		}
		fprintf(stderr, "line %ld: %s\n", csv_line(r), err);
		st->rows++;
		st->bad++;
		if (got == CSV_IO || got == CSV_UNTERMINATED)
			break;
	}
	rc = 0;
out:
	csv_reader_free(r);
	return rc;
}

int
cmd_import(int argc, char **argv)
{
	static const char name[] = "tmprov import";
	struct sender_opts o = {.timeout_ms = 300000};
	struct import_state st = {0};
	struct cfg *cfg;
	FILE *in = NULL;
	char err[512];
	int rc;

	if (clicfg_wants_help(argc, argv)) {
		fputs(IMPORT_USAGE, stdout);
		return CLI_OK;
	}
	cfg = clicfg_load(name, &argc, argv);
	if (cfg == NULL)
		return CLI_FAIL;
	rc = sender_flags(name, argc, argv, "one FILE.csv", &o);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (sodium_init() < 0 || (st.ids = idmap_new()) == NULL ||
	    (st.subjects = idmap_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", name);
		goto out;
	}
	in = fopen(o.file, "r");
	if (in == NULL) {
		fprintf(stderr, "%s: %s: %m\n", name, o.file);
		goto out;
	}
	if (!o.dry_run) {
		clicfg_catch_signals();
		st.snd = sender_new(cfg, o.wait, err, sizeof(err));
		if (st.snd == NULL) {
			fprintf(stderr, "%s: %s\n", name, err);
			goto out;
		}
	}
	if (import_rows(&st, in) != 0) {
		fprintf(stderr, "%s: %s: nothing sent\n", name, o.file);
		goto out;
	}
	printf("%s: %ld row%s: %ld good, %ld repeated, %ld bad; %s %ld account.create, %ld "
	       "user.upsert\n",
	       o.file, st.rows, st.rows == 1 ? "" : "s", st.good, st.repeated, st.bad,
	       o.dry_run ? "would send" : "sending", st.sent[0], st.sent[1]);
	if (o.dry_run) {
		printf("dry run: nothing sent\n");
		rc = st.bad ? CLI_FAIL : CLI_OK;
		goto out;
	}
	rc = sender_finish(st.snd, o.timeout_ms, stdout) && st.bad == 0 ? CLI_OK : CLI_FAIL;
out:
	if (in != NULL)
		fclose(in);
	sender_free(st.snd);
	idmap_free(st.ids, free);
	idmap_free(st.subjects, free);
	cfg_free(cfg);
	return rc;
}
