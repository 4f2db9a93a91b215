/* deps: a reader of the declarations in tools/install-deps.sh and the Makefile's deps rule
 * (see deps.h). The formats it reads are the ones those files use: `[task]="a=b c=d"` inside
 * `declare -A provides=(` ... `)`, `system="..."`, and `check: deps` with a deps recipe line
 * running `tools/install-deps.sh TASK...`. */
#include "deps.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPS_FILE_MAX (4L * 1024 * 1024)

char *
deps_slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	long n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < DEPS_FILE_MAX &&
	    fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1)) != NULL) {
		if (fread(s, 1, (size_t)n, f) != (size_t)n) {
			free(s);
			s = NULL;
		} else {
			s[n] = '\0';
		}
	}
	fclose(f);
	if (s == NULL)
		snprintf(err, errlen, "%s: cannot read (or larger than %ld bytes)", path,
			 DEPS_FILE_MAX);
	return s;
}

/* Adds the "name=package" words of text[0..len) under task. */
static int
deps_add_words(struct deps *d, const char *task, const char *text, size_t len, char *err,
	       size_t errlen)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *w, *eq;
		struct deps_entry *e, *v;

		while (p < end && isspace((unsigned char)*p))
			p++;
		w = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		if (w == p)
			break;
		eq = memchr(w, '=', (size_t)(p - w));
		if (eq == NULL || eq == w || eq + 1 == p) {
			snprintf(err, errlen,
				 "install-deps.sh: [%s] has \"%.*s\", not program=package", task,
				 (int)(p - w), w);
			return -1;
		}
		v = realloc(d->v, (d->n + 1) * sizeof(*d->v));
		if (v == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		d->v = v;
		e = &d->v[d->n++];
		snprintf(e->task, sizeof(e->task), "%s", task);
		snprintf(e->name, sizeof(e->name), "%.*s", (int)(eq - w), w);
		snprintf(e->package, sizeof(e->package), "%.*s", (int)(p - eq - 1), eq + 1);
	}
	return 0;
}

static int
deps_read_script(struct deps *d, const char *s, char *err, size_t errlen)
{
	const char *block = strstr(s, "declare -A provides=("), *end, *p, *sys;

	if (block == NULL || (end = strstr(block, "\n)")) == NULL) {
		snprintf(err, errlen, "install-deps.sh: no `declare -A provides=(` ... `)` table");
		return -1;
	}
	for (p = strstr(block, "\n\t["); p != NULL && p < end; p = strstr(p, "\n\t[")) {
		const char *close = strchr(p, ']'), *q, *qend;
		char task[32];

		if (close == NULL || strncmp(close, "]=\"", 3) != 0) {
			snprintf(err, errlen, "install-deps.sh: provides entry not [task]=\"...\"");
			return -1;
		}
		snprintf(task, sizeof(task), "%.*s", (int)(close - p - 3), p + 3);
		q = close + 3;
		qend = strchr(q, '"');
		if (qend == NULL) {
			snprintf(err, errlen, "install-deps.sh: [%s] has no closing quote", task);
			return -1;
		}
		if (deps_add_words(d, task, q, (size_t)(qend - q), err, errlen) != 0)
			return -1;
		p = qend;
	}
	sys = strstr(s, "\nsystem=\"");
	if (sys == NULL || (end = strchr(sys + 9, '"')) == NULL) {
		snprintf(err, errlen, "install-deps.sh: no system=\"...\" list");
		return -1;
	}
	return deps_add_words(d, "system", sys + 9, (size_t)(end - sys - 9), err, errlen);
}

/* check's tasks: `check:` must depend on deps, whose recipe runs tools/install-deps.sh. */
static int
deps_read_makefile(struct deps *d, const char *s, char *err, size_t errlen)
{
	const char *check = strstr(s, "\ncheck:"), *rule = strstr(s, "\ndeps:"), *run, *eol;
	char line[512];

	if (check == NULL || (eol = strchr(check + 1, '\n')) == NULL || rule == NULL) {
		snprintf(err, errlen, "Makefile: no check: or deps: rule");
		return -1;
	}
	snprintf(line, sizeof(line), " %.*s ", (int)(eol - check - 7), check + 7);
	if (strstr(line, " deps ") == NULL) {
		snprintf(err, errlen, "Makefile: check does not depend on deps");
		return -1;
	}
	/* The recipe's first line runs the script. */
	rule = strchr(rule + 1, '\n');
	eol = rule != NULL ? strchr(rule + 1, '\n') : NULL;
	run = rule != NULL ? strstr(rule, "tools/install-deps.sh") : NULL;
	if (run == NULL || eol == NULL || run > eol || rule[1] != '\t') {
		snprintf(err, errlen,
			 "Makefile: the deps recipe does not run tools/install-deps.sh");
		return -1;
	}
	eol = strchr(run, '\n');
	snprintf(line, sizeof(line), "%.*s", (int)(eol - run - 21), run + 21);
	for (char *save = NULL, *t = strtok_r(line, " \t", &save);
	     t != NULL && d->ncheck < DEPS_TASKS_MAX; t = strtok_r(NULL, " \t", &save))
		snprintf(d->check[d->ncheck++], sizeof(d->check[0]), "%s", t);
	if (d->ncheck == 0) {
		snprintf(err, errlen, "Makefile: the deps recipe names no task");
		return -1;
	}
	return 0;
}

int
deps_load(struct deps *d, const char *src, char *err, size_t errlen)
{
	char path[1024];
	char *s;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(path, sizeof(path), "%s/tools/install-deps.sh", src);
	if ((s = deps_slurp(path, err, errlen)) == NULL)
		return -1;
	rc = deps_read_script(d, s, err, errlen);
	free(s);
	if (rc != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/Makefile", src);
	if ((s = deps_slurp(path, err, errlen)) == NULL)
		return -1;
	rc = deps_read_makefile(d, s, err, errlen);
	free(s);
	return rc;
}

void
deps_free(struct deps *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

bool
deps_is_check(const struct deps *d, const char *task)
{
	for (size_t i = 0; i < d->ncheck; i++)
		if (strcmp(d->check[i], task) == 0)
			return true;
	return false;
}

const struct deps_entry *
deps_find(const struct deps *d, const char *task, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0 &&
		    (task == NULL || strcmp(d->v[i].task, task) == 0))
			return &d->v[i];
	return NULL;
}

const struct deps_entry *
deps_find_check(const struct deps *d, const char *name)
{
	for (size_t i = 0; i < d->ncheck; i++) {
		const struct deps_entry *e = deps_find(d, d->check[i], name);

		if (e != NULL)
			return e;
	}
	return NULL;
}

void
deps_who(const struct deps *d, const char *name, char *out, size_t outlen)
{
	const struct deps_entry *e = deps_find_check(d, name);

	if (e == NULL)
		e = deps_find(d, NULL, name);
	if (e == NULL)
		snprintf(out, outlen,
			 "no task of tools/install-deps.sh provides it: declare it there");
	else if (strcmp(e->task, "system") == 0)
		snprintf(out, outlen, "it is a base-system program (package %s)", e->package);
	else
		snprintf(out, outlen, "tools/install-deps.sh %s must install it (package %s)",
			 e->task, e->package);
}

size_t
deps_dirs(char dirs[][256], size_t max)
{
	static const char *const fixed[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin"};
	size_t n = 0;
	glob_t g;

	if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
		const char *best = NULL;

		/* The newest version, as tools/need.sh's `sort -V | tail -n 1`. */
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (best == NULL || strverscmp(g.gl_pathv[i], best) > 0)
				best = g.gl_pathv[i];
		if (best != NULL && n < max)
			snprintf(dirs[n++], 256, "%s", best);
		globfree(&g);
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < max; i++)
		snprintf(dirs[n++], 256, "%s", fixed[i]);
	return n;
}

int
deps_locate(const char *name, char *out, size_t outlen)
{
	char dirs[8][256];
	size_t n = deps_dirs(dirs, 8);

	for (size_t i = 0; i < n; i++) {
		snprintf(out, outlen, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	out[0] = '\0';
	return -1;
}
