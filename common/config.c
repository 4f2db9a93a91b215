/* config: key tables filled from `--config FILE` then the environment, validated up front so
 * that a bad value fails at start-up naming its key, and printed with secrets masked. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "dev" /* the fuzz build compiles common/ without the Makefile's flags */
#endif

#define CFG_MAX_KEYS	   128
#define CFG_LINE_MAX	   4096
#define CFG_FILE_MAX_LINES 10000

struct cfg_entry {
	const struct cfg_key *key;
	const char *def; /* the key's default or this program's override */
	int flags;	 /* the key's flags and the program's */
	char *value;	 /* NULL: unset and no default */
	long num;	 /* parsed CFG_INT/CFG_MS/CFG_BOOL */
	char *path;	 /* a secret's NAME_FILE from --config FILE */
	bool set;	 /* by --config FILE or the environment (not the default) */
	bool in_file;	 /* NAME itself in --config FILE */
};

struct cfg {
	struct cfg_entry entries[CFG_MAX_KEYS];
	size_t n;
	char *file;	   /* --config FILE, for cfg_reload */
	const char *usage; /* --help text */
};

struct cfg *
cfg_new(void)
{
	return calloc(1, sizeof(struct cfg));
}

struct cfg *
cfg_compose(const struct cfg_list *lists, size_t nlists, const struct cfg_override *o, size_t no)
{
	struct cfg *c = cfg_new();

	for (size_t i = 0; c != NULL && i < nlists; i++) {
		if (cfg_add_keys(c, lists[i].keys, lists[i].n) != 0)
			goto fail;
	}
	if (c != NULL && cfg_add_overrides(c, o, no) != 0)
		goto fail;
	return c;
fail:
	cfg_free(c);
	return NULL;
}

void
cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].value);
		free(c->entries[i].path);
	}
	free(c->file);
	free(c);
}

/* The entry of a key by its name (a line of --config FILE, the environment). */
static struct cfg_entry *
cfg_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->entries[i].key->name, name) == 0)
			return (struct cfg_entry *)&c->entries[i];
	}
	return NULL;
}

static int
entry_assign(struct cfg_entry *e, const char *value)
{
	char *copy = NULL;

	if (value != NULL && (copy = strdup(value)) == NULL)
		return -1;
	free(e->value);
	e->value = copy;
	return 0;
}

/* Whether e is read from NAME_FILE too: a secret whose table has no key of that name. */
static bool
has_file_form(const struct cfg *c, const struct cfg_entry *e)
{
	char name[256];

	if (!(e->flags & CFG_SECRET))
		return false;
	snprintf(name, sizeof(name), "%s_FILE", e->key->name);
	return cfg_find(c, name) == NULL;
}

/* The secret entry that a NAME_FILE line of --config FILE refers to, or NULL. */
static struct cfg_entry *
find_file_form(const struct cfg *c, const char *name)
{
	size_t n = strlen(name);
	char base[256];
	struct cfg_entry *e;

	if (n <= 5 || n >= sizeof(base) || strcmp(name + n - 5, "_FILE") != 0)
		return NULL;
	memcpy(base, name, n - 5);
	base[n - 5] = '\0';
	e = cfg_find(c, base);
	return e != NULL && has_file_form(c, e) ? e : NULL;
}

/* Reads the secret in path into *out (caller frees): the whole file, one trailing newline
 * trimmed. Errors name the key and the path, never the contents. */
static int
secret_file_read(const char *name, const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (f == NULL) {
		snprintf(err, errlen, "%s_FILE: cannot read %s: %s", name, path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(CFG_SECRET_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s_FILE: out of memory", name);
		goto out;
	}
	n = fread(buf, 1, CFG_SECRET_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s_FILE: cannot read %s: %s", name, path, strerror(errno));
		goto out;
	}
	if (n > CFG_SECRET_FILE_MAX || memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "%s_FILE: %s is %s", name, path,
			 n > CFG_SECRET_FILE_MAX ? "larger than 64 KiB" : "not text (a NUL byte)");
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n -= (n > 1 && buf[n - 2] == '\r') ? 2 : 1;
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL)
		explicit_bzero(buf, CFG_SECRET_FILE_MAX + 1);
	free(buf);
	fclose(f);
	return rc;
}

int
cfg_add_keys(struct cfg *c, const struct cfg_key *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct cfg_entry *have = cfg_find(c, keys[i]->name);
		struct cfg_entry *e = &c->entries[c->n];

		/* Two groups may hold one key; a second definition of a name is a mistake. */
		if (have != NULL && have->key == keys[i])
			continue;
		if (have != NULL || c->n == CFG_MAX_KEYS)
			return -1;
		e->key = keys[i];
		e->def = keys[i]->def;
		e->flags = keys[i]->flags;
		if (entry_assign(e, e->def) != 0)
			return -1;
		c->n++;
	}
	return 0;
}

int
cfg_add_overrides(struct cfg *c, const struct cfg_override *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cfg_entry *e = cfg_find(c, o[i].key->name);

		if (e == NULL || e->key != o[i].key)
			return -1;
		e->flags |= o[i].flags;
		if (o[i].def != NULL) {
			e->def = o[i].def;
			if (entry_assign(e, e->def) != 0)
				return -1;
		}
	}
	return 0;
}

int
cfg_parse_ms(const char *s, long *out)
{
	static const struct {
		const char *suffix;
		long mult;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1}};
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno != 0 || v < 0 || !isdigit((unsigned char)*s))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > __LONG_MAX__ / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static int
parse_bool(const char *s, long *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
enum_has(const char *choices, const char *s)
{
	size_t len = strlen(s);
	const char *p = choices;

	while (len > 0 && p != NULL) {
		if (strncmp(p, s, len) == 0 && (p[len] == '|' || p[len] == '\0'))
			return 1;
		p = strchr(p, '|');
		if (p != NULL)
			p++;
	}
	return 0;
}

static int
parse_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s)
		return -1;
	if (s[0] == '[' && colon[-1] != ']')
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return (*end != '\0' || end == colon + 1 || errno != 0 || port < 0 || port > 65535) ? -1
											    : 0;
}

static int
parse_url(const char *s)
{
	const char *rest;

	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return -1;
	if (*rest == '\0' || *rest == '/')
		return -1;
	/* Printable ASCII, as a URL is written (RFC 3986) and HTTP headers carry it. */
	for (; *rest; rest++) {
		if ((unsigned char)*rest < 0x21 || (unsigned char)*rest > 0x7e)
			return -1;
	}
	return 0;
}

/* Checks e's value against its type and bounds and caches the number. */
static int
entry_check(struct cfg_entry *e, char *err, size_t errlen)
{
	const struct cfg_key *k = e->key;
	const char *v = e->value;
	char *end;

	if (v != NULL && k->check != NULL && *v != '\0' && k->check(v, err, errlen) != 0)
		return -1;
	if (v == NULL) {
		if (e->flags & CFG_REQUIRED) {
			snprintf(err, errlen, "%s: required but not set (%s)", k->name, k->help);
			return -1;
		}
		return 0;
	}
	switch (k->type) {
	case CFG_STRING:
		return 0;
	case CFG_INT:
		errno = 0;
		e->num = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer", k->name, v);
			return -1;
		}
		break;
	case CFG_MS:
		if (cfg_parse_ms(v, &e->num) != 0) {
			snprintf(err, errlen,
				 "%s: \"%s\" is not a duration (e.g. 250ms, 5s, 2m, 1h)", k->name,
				 v);
			return -1;
		}
		break;
	case CFG_BOOL:
		if (parse_bool(v, &e->num) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not a boolean (true/false)", k->name,
				 v);
			return -1;
		}
		return 0;
	case CFG_ENUM:
		if (!enum_has(k->choices, v)) {
			snprintf(err, errlen, "%s: \"%s\" is not one of %s", k->name, v,
				 k->choices);
			return -1;
		}
		return 0;
	case CFG_LISTEN:
		if (parse_listen(v) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not host:port", k->name, v);
			return -1;
		}
		return 0;
	case CFG_URL:
		if (parse_url(v) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not an http(s) URL", k->name, v);
			return -1;
		}
		return 0;
	}
	if ((k->min != 0 || k->max != 0) && (e->num < k->min || e->num > k->max)) {
		snprintf(err, errlen, "%s: %s is out of range [%ld, %ld]%s", k->name, v, k->min,
			 k->max, k->type == CFG_MS ? " ms" : "");
		return -1;
	}
	return 0;
}

int
cfg_set(struct cfg *c, const struct cfg_key *key, const char *value, char *err, size_t errlen)
{
	struct cfg_entry *e = cfg_find(c, key->name);

	if (e == NULL || e->key != key) {
		snprintf(err, errlen, "%s: unknown setting", key->name);
		return -1;
	}
	if (entry_assign(e, value) != 0) {
		snprintf(err, errlen, "%s: out of memory", key->name);
		return -1;
	}
	return entry_check(e, err, errlen);
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Reads KEY=value lines. Unknown keys are errors: a typo must not pass silently. */
static int
cfg_read_file(struct cfg *c, const char *file, char *err, size_t errlen)
{
	char line[CFG_LINE_MAX];
	FILE *f;
	int lineno = 0, rc = -1;

	if ((f = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "--config %s: %s", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq;
		struct cfg_entry *e;

		if (++lineno > CFG_FILE_MAX_LINES || (strchr(line, '\n') == NULL && !feof(f))) {
			snprintf(err, errlen, "%s:%d: line or file too long", file, lineno);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected KEY=value", file, lineno);
			goto out;
		}
		*eq = '\0';
		if ((e = cfg_find(c, trim(s))) != NULL) {
			e->set = e->in_file = true;
			if (entry_assign(e, trim(eq + 1)) != 0)
				goto oom;
		} else if ((e = find_file_form(c, trim(s))) != NULL) {
			free(e->path);
			if ((e->path = strdup(trim(eq + 1))) == NULL)
				goto oom;
		} else {
			snprintf(err, errlen, "%s:%d: %s: unknown setting", file, lineno, trim(s));
			goto out;
		}
		if (e->in_file && e->path != NULL) {
			snprintf(err, errlen, "%s: %s and %s_FILE are both set: set one", file,
				 e->key->name, e->key->name);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(f);
	return rc;
oom:
	snprintf(err, errlen, "%s:%d: out of memory", file, lineno);
	goto out;
}

/* Whether one of the variables of list ("A|B") is set. */
static bool
any_env(const char *list)
{
	char name[128];

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, "|");

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (getenv(name) != NULL)
			return true;
		p += n + (p[n] == '|');
	}
	return false;
}

/* Takes e's value from the environment: NAME, or for a secret the file NAME_FILE names (both
 * set is an error), or else the NAME_FILE of --config FILE. */
static int
entry_from_env(const struct cfg *c, struct cfg_entry *e, char *err, size_t errlen)
{
	const char *name = e->key->name, *env = getenv(name), *path = NULL;
	char fname[256], *secret = NULL;
	int rc;

	if (has_file_form(c, e)) {
		snprintf(fname, sizeof(fname), "%s_FILE", name);
		if ((path = getenv(fname)) != NULL && env != NULL) {
			snprintf(err, errlen, "%s and %s are both set: set one", name, fname);
			return -1;
		}
		if (path == NULL && env == NULL && !e->in_file)
			path = e->path;
	}
	if (path != NULL) {
		if (secret_file_read(name, path, &secret, err, errlen) != 0)
			return -1;
		env = secret;
	}
	if (env == NULL)
		return 0;
	e->set = true;
	rc = entry_assign(e, env);
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	if (rc != 0)
		snprintf(err, errlen, "%s: out of memory", name);
	return rc;
}

int
cfg_load(struct cfg *c, const char *file, char *err, size_t errlen)
{
	if (file != NULL && cfg_read_file(c, file, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		struct cfg_entry *e = &c->entries[i];
		const char *unless = e->key->default_unless_env;

		if (entry_from_env(c, e, err, errlen) != 0)
			return -1;
		/* libpq reads PGDATABASE (and the other PG* variables) from an empty conninfo. */
		if (!e->set && unless != NULL && any_env(unless) && entry_assign(e, "") != 0) {
			snprintf(err, errlen, "%s: out of memory", e->key->name);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		if (entry_check(&c->entries[i], err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* An empty table of c's keys, flags and defaults, reading the same file. */
static struct cfg *
cfg_fresh(const struct cfg *c)
{
	struct cfg *n = cfg_new();

	if (n == NULL || (c->file != NULL && (n->file = strdup(c->file)) == NULL))
		goto fail;
	for (size_t i = 0; i < c->n; i++) {
		n->entries[i].key = c->entries[i].key;
		n->entries[i].def = c->entries[i].def;
		n->entries[i].flags = c->entries[i].flags;
		n->n = i + 1;
		if (entry_assign(&n->entries[i], n->entries[i].def) != 0)
			goto fail;
	}
	return n;
fail:
	cfg_free(n);
	return NULL;
}

static bool
same_value(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* Logs one changed key; a secret's values are never shown. */
static void
log_change(const struct cfg_entry *old, const struct cfg_entry *new, bool applied)
{
	const char *name = old->key->name;

	if (old->flags & CFG_SECRET)
		log_info("reload: %s changed (secret: value not shown)%s", name,
			 applied ? "" : ": needs a restart, keeping the old value");
	else
		log_info("reload: %s changed from \"%s\" to \"%s\"%s", name,
			 old->value ? old->value : "", new->value ? new->value : "",
			 applied ? "" : ": needs a restart, keeping the old value");
}

int
cfg_reload(struct cfg *c, char *err, size_t errlen)
{
	struct cfg *n = cfg_fresh(c);
	int applied = 0, restart = 0;

	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg_load(n, n->file, err, errlen) != 0) {
		cfg_free(n);
		return -1;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct cfg_entry *o = &c->entries[i], *e = &n->entries[i];

		if (same_value(o->value, e->value))
			continue;
		log_change(o, e, o->flags & CFG_RELOAD);
		if (!(o->flags & CFG_RELOAD)) {
			restart++;
			continue;
		}
		/* Ownership of the new value moves to c. */
		free(o->value);
		o->value = e->value;
		o->num = e->num;
		e->value = NULL;
		applied++;
	}
	log_info("reload: %d setting(s) applied, %d need a restart", applied, restart);
	cfg_free(n);
	return applied;
}

void
cfg_set_usage(struct cfg *c, const char *usage)
{
	c->usage = usage;
}

static const struct cfg_entry *
cfg_get(const struct cfg *c, const struct cfg_key *key)
{
	const struct cfg_entry *e = cfg_find(c, key->name);

	if (e == NULL || e->key != key) {
		fprintf(stderr, "config: %s is not in this program's table (programming error)\n",
			key->name);
		abort();
	}
	return e;
}

const char *
cfg_str(const struct cfg *c, const struct cfg_key *key)
{
	return cfg_get(c, key)->value;
}

long
cfg_int(const struct cfg *c, const struct cfg_key *key)
{
	return cfg_get(c, key)->num;
}

int
cfg_bool(const struct cfg *c, const struct cfg_key *key)
{
	return cfg_get(c, key)->num != 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct cfg_entry *const *x = a, *const *y = b;

	return strcmp((*x)->key->name, (*y)->key->name);
}

/* Fills sorted[] with pointers to c's entries in name order. */
static void
cfg_sorted(const struct cfg *c, const struct cfg_entry **sorted)
{
	for (size_t i = 0; i < c->n; i++)
		sorted[i] = &c->entries[i];
	qsort(sorted, c->n, sizeof(sorted[0]), entry_cmp);
}

void
cfg_print(const struct cfg *c, FILE *out)
{
	const struct cfg_entry *sorted[CFG_MAX_KEYS];

	cfg_sorted(c, sorted);
	for (size_t i = 0; i < c->n; i++) {
		const struct cfg_entry *e = sorted[i];
		const char *v = e->value == NULL ? "" : e->value;

		if ((e->flags & CFG_SECRET) && e->value != NULL && *e->value != '\0')
			v = "********";
		fprintf(out, "%s=%s\n", e->key->name, v);
	}
}

/* Writes s with '|' turned into ", " so that it cannot split a markdown table cell. */
static void
doc_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs(", ", out);
		else
			fputc(*s, out);
	}
}

void
cfg_print_doc(const struct cfg *c, FILE *out)
{
	const struct cfg_entry *sorted[CFG_MAX_KEYS];

	cfg_sorted(c, sorted);
	fprintf(out, "| variable | meaning | default |\n|---|---|---|\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct cfg_key *k = sorted[i]->key;
		const char *def = sorted[i]->def;
		int flags = sorted[i]->flags;

		fprintf(out, "| %s | ", k->name);
		doc_cell(out, k->help);
		if (k->type == CFG_ENUM) {
			fputs(" (one of: ", out);
			doc_cell(out, k->choices);
			fputs(")", out);
		}
		if ((flags & CFG_SECRET) && strstr(k->help, "(secret") == NULL)
			fputs(" (secret)", out);
		if (has_file_form(c, sorted[i]))
			fprintf(out, " (or %s_FILE: a file holding it)", k->name);
		if (flags & CFG_RELOAD)
			fputs(" (reloaded on SIGHUP)", out);
		if (def != NULL)
			fprintf(out, " | `%s` |\n", def);
		else
			fprintf(out, " | %s |\n", (flags & CFG_REQUIRED) ? "required" : "none");
	}
}

#define MDOC_LINE_MAX 80 /* mandoc -Tlint wants input lines no longer */

/* Writes one line of text as mdoc input lines of at most MDOC_LINE_MAX bytes where spaces
 * allow, none starting with a control character. */
static void
mdoc_wrap(FILE *out, const char *line, size_t len)
{
	while (len > 0) {
		size_t n = len;

		if (n > MDOC_LINE_MAX) {
			const char *sp = memrchr(line, ' ', MDOC_LINE_MAX + 1);

			/* a word longer than a line stays whole */
			if (sp == NULL || sp == line)
				sp = memchr(line + 1, ' ', len - 1);
			n = sp != NULL ? (size_t)(sp - line) : len;
		}
		if (*line == '.' || *line == '\'')
			fputs("\\&", out);
		fprintf(out, "%.*s\n", (int)n, line);
		line += n;
		len -= n;
		if (len > 0) {
			line++; /* the space broken at */
			len--;
		}
	}
}

/* Writes help text, then end, as mdoc text: backslashes escaped, `code` quoted, each sentence
 * on a line of its own (as mandoc wants), long lines wrapped. */
static void
mdoc_text(FILE *out, const char *text, const char *end)
{
	char *buf = NULL, *line;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	int code = 0;

	if (m == NULL)
		return;
	for (const char *s = text; *s; s++) {
		if (*s == '\\')
			fputs("\\e", m);
		else if (*s == '`')
			fputs((code = !code) ? "\\(oq" : "\\(cq", m);
		else
			fputc(*s, m);
		/* A sentence ends at . ? or ! (and a closing bracket) before a capital, except
		 * after an abbreviation such as "e.g.". */
		if (strchr(".?!", *s) == NULL || (s - text >= 2 && s[-2] == '.'))
			continue;
		if (s[1] == ')')
			fputc(*++s, m);
		if (s[1] == ' ' && isupper((unsigned char)s[2])) {
			fputc('\n', m);
			s++;
		}
	}
	fprintf(m, "%s\n", end);
	fclose(m);
	for (line = buf; *line != '\0';) {
		size_t len = strcspn(line, "\n");

		mdoc_wrap(out, line, len);
		line += len + (line[len] == '\n');
	}
	free(buf);
}

/* ms in the largest unit that divides it: "250ms", "5s", "2m", "24h". */
static void
mdoc_ms(FILE *out, long ms)
{
	static const struct {
		const char *unit;
		long ms;
	} units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			fprintf(out, "%ld%s", ms / units[i].ms, units[i].unit);
			return;
		}
	}
	fprintf(out, ms == 0 ? "0" : "%ldms", ms);
}

/* The sentence saying what values a key takes. */
static void
mdoc_type(FILE *out, const struct cfg_key *k)
{
	bool bounded = k->min != 0 || k->max != 0;

	switch (k->type) {
	case CFG_STRING:
		break;
	case CFG_INT:
		if (bounded)
			fprintf(out, "An integer from %ld to %ld.\n", k->min, k->max);
		else
			fputs("An integer.\n", out);
		break;
	case CFG_MS:
		fputs("A duration", out);
		if (bounded) {
			fputs(" from ", out);
			mdoc_ms(out, k->min);
			fputs(" to ", out);
			mdoc_ms(out, k->max);
		}
		fputs(".\n", out);
		break;
	case CFG_BOOL:
		fputs("A boolean.\n", out);
		break;
	case CFG_ENUM:
		fputs("One of\n.Cm ", out);
		for (const char *p = k->choices; *p; p++) {
			if (*p == '|')
				fputs(" , ", out);
			else
				fputc(*p, out);
		}
		fputs(" .\n", out);
		break;
	case CFG_LISTEN:
		fputs("An address and port,\n.Ar host : Ns Ar port .\n", out);
		break;
	case CFG_URL:
		fputs("An http or https URL, in printable ASCII.\n", out);
		break;
	}
}

void
cfg_print_mdoc(const struct cfg *c, FILE *out)
{
	const struct cfg_entry *sorted[CFG_MAX_KEYS];

	cfg_sorted(c, sorted);
	fputs(".Bl -tag -width Ds\n", out);
	for (size_t i = 0; i < c->n; i++) {
		const struct cfg_entry *e = sorted[i];
		size_t n = strlen(e->key->help);

		fprintf(out, ".It Ev %s\n", e->key->name);
		mdoc_text(out, e->key->help,
			  n > 0 && strchr(".?!", e->key->help[n - 1]) == NULL ? "." : "");
		mdoc_type(out, e->key);
		if ((e->flags & CFG_SECRET) && strstr(e->key->help, "(secret") == NULL)
			fputs("Secret:\n.Fl -print-config\nmasks it.\n", out);
		if (has_file_form(c, e))
			fprintf(out,
				"Or set\n.Ev %s_FILE\nto a file holding it\n"
				"(one trailing newline is trimmed; setting both is an error).\n",
				e->key->name);
		if (e->flags & CFG_RELOAD)
			fputs("Reloaded on\n.Dv SIGHUP .\n", out);
		if (e->def != NULL)
			fprintf(out, "Default:\n.Ql \"%s\" .\n", e->def);
		else if (e->flags & CFG_REQUIRED)
			fputs("Required.\n", out);
	}
	fputs(".El\n", out);
}

/* The flag of flags[] that arg starts, with *vlen set to the flag's length; NULL if none. */
static const struct cfg_flag *
flag_match(const char *arg, const struct cfg_flag *flags, size_t n, size_t *flen)
{
	for (size_t f = 0; f < n; f++) {
		*flen = strlen(flags[f].flag);
		if (strncmp(arg, flags[f].flag, *flen) == 0 &&
		    (arg[*flen] == '\0' || arg[*flen] == '='))
			return &flags[f];
	}
	return NULL;
}

int
cfg_take_flags(int argc, char **argv, const struct cfg_flag *flags, size_t n)
{
	int kept = 1;

	for (int i = 1; i < argc; i++) {
		const struct cfg_flag *f;
		const char *value;
		size_t flen = 0;

		if ((f = flag_match(argv[i], flags, n, &flen)) == NULL) {
			argv[kept++] = argv[i];
			continue;
		}
		if (argv[i][flen] == '=')
			value = argv[i] + flen + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return -1;
		if (f->key != NULL)
			setenv(f->key->name, value, 1);
		else
			*f->dst = value;
	}
	argv[kept] = NULL;
	return kept;
}

int
cfg_from_args(struct cfg *c, int argc, char **argv)
{
	const char *file = NULL;
	char err[512];
	int print = 0, doc = 0, mdoc = 0, kept = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "%s: --config needs a FILE\n", argv[0]);
				exit(2);
			}
			file = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		else if (strcmp(argv[i], "--print-config") == 0)
			print = 1;
		else if (strcmp(argv[i], "--help-config") == 0)
			doc = 1;
		else if (strcmp(argv[i], "--help-config=mdoc") == 0)
			mdoc = 1;
		else if (strcmp(argv[i], "--version") == 0) {
			const char *slash = strrchr(argv[0], '/');

			printf("%s %s\n", slash ? slash + 1 : argv[0], TMPROV_VERSION);
			exit(0);
		} else if (c->usage != NULL &&
			   (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			printf("usage: %s\n  --config FILE   KEY=value lines (the environment "
			       "wins)\n  --print-config  the effective settings, secrets masked\n"
			       "  --help-config   the settings\n  --version\n",
			       c->usage);
			exit(0);
		} else
			argv[kept++] = argv[i];
	}
	argv[kept] = NULL;
	if (doc || mdoc) {
		(mdoc ? cfg_print_mdoc : cfg_print_doc)(c, stdout);
		exit(0);
	}
	if (file != NULL && (c->file = strdup(file)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		exit(2);
	}
	if (cfg_load(c, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: configuration error: %s\n", argv[0], err);
		exit(2);
	}
	if (print) {
		cfg_print(c, stdout);
		exit(0);
	}
	return kept;
}
