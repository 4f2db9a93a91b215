/* bench_sql: renders a program's statement into a pgbench command, and the set of scripts and
 * variables one pg-reference run takes. */
#include "bench_sql.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_SQL_PARAMS_MAX 64

void
bench_sqlset_init(struct bench_sqlset *s)
{
	memset(s, 0, sizeof(*s));
}

void
bench_sqlset_free(struct bench_sqlset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nscripts; i++)
		free(s->scripts[i].text);
	for (size_t i = 0; i < s->ndefines; i++)
		free(s->defines[i]);
	bench_sqlset_init(s);
}

int
bench_sqlset_script(struct bench_sqlset *s, const char *name, long weight, char *text)
{
	struct bench_script *sc;

	if (s->nscripts == BENCH_SCRIPTS_MAX || text == NULL) {
		free(text);
		return -1;
	}
	sc = &s->scripts[s->nscripts++];
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	sc->text = text;
	sc->weight = weight;
	return 0;
}

int
bench_sqlset_define(struct bench_sqlset *s, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *d;

	if (s->ndefines == BENCH_DEFINES_MAX || (d = malloc(n)) == NULL)
		return -1;
	snprintf(d, n, "%s=%s", name, value);
	s->defines[s->ndefines++] = d;
	return 0;
}

/* Copies the literal starting at *p (a quote) to out, E''-spelt when it holds a colon or a
 * backslash; *p ends past it. estring: it already is an E'' literal. */
static int
bench_sql_literal(struct buf *out, const char **p, bool estring)
{
	const char *s = *p + 1, *end = s;
	bool respell = false;
	int rc = BUF_OK;

	for (;;) {
		if (*end == '\0')
			return -1;
		if (estring && *end == '\\' && end[1] != '\0') {
			end += 2;
			continue;
		}
		if (*end == '\'' && end[1] == '\'') {
			end += 2;
			continue;
		}
		if (*end == '\'')
			break;
		respell |= *end == ':' || *end == '\\';
		end++;
	}
	if (respell && !estring)
		rc = buf_appends(out, "E");
	rc = rc ? rc : buf_appends(out, "'");
	for (const char *c = s; rc == BUF_OK && c < end; c++) {
		if (*c == ':' && respell)
			rc = buf_appends(out, "\\x3a");
		else if (*c == '\\' && !estring)
			rc = buf_appends(out, "\\\\");
		else
			rc = buf_append(out, c, 1);
	}
	rc = rc ? rc : buf_appends(out, "'");
	*p = end + 1;
	return rc == BUF_OK ? 0 : -1;
}

/* Copies text to out with its literals re-spelt and, when args is not NULL, its $N replaced
 * (used[N-1] set). */
static int
bench_sql_copy(struct buf *out, const char *text, const char *const *args, size_t nargs, bool *used,
	       const char *name, char *err, size_t errlen)
{
	const char *p = text;

	while (*p != '\0') {
		if (*p == '\'') {
			bool e = p > text && (p[-1] == 'E' || p[-1] == 'e');

			if (bench_sql_literal(out, &p, e) != 0) {
				snprintf(err, errlen, "%s: unterminated literal or out of memory",
					 name);
				return -1;
			}
		} else if (args != NULL && *p == '$' && p[1] >= '1' && p[1] <= '9') {
			char *end;
			unsigned long k = strtoul(p + 1, &end, 10);

			if (k > nargs || args[k - 1] == NULL) {
				snprintf(
				    err, errlen,
				    "statement %s uses $%lu, which its pgbench script does not "
				    "give: update tools/bench/bench_*sql.c with the statement",
				    name, k);
				return -1;
			}
			used[k - 1] = true;
			if (bench_sql_copy(out, args[k - 1], NULL, 0, NULL, name, err, errlen) != 0)
				return -1;
			p = end;
		} else {
			if (buf_append(out, p, 1) != BUF_OK)
				goto nomem;
			p++;
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s: script too large", name);
	return -1;
}

int
bench_sql_render(struct buf *out, const struct db_stmt *st, const char *const *args, size_t nargs,
		 char *err, size_t errlen)
{
	bool used[BENCH_SQL_PARAMS_MAX] = {false};

	if (nargs > BENCH_SQL_PARAMS_MAX) {
		snprintf(err, errlen, "%s: more than %d parameters", st->name,
			 BENCH_SQL_PARAMS_MAX);
		return -1;
	}
	if (bench_sql_copy(out, st->sql, args, nargs, used, st->name, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < nargs; i++)
		if (args[i] != NULL && !used[i]) {
			snprintf(err, errlen,
				 "statement %s no longer uses $%zu, which its pgbench script "
				 "gives: update tools/bench/bench_*sql.c with the statement",
				 st->name, i + 1);
			return -1;
		}
	if (buf_appends(out, ";\n") != BUF_OK) {
		snprintf(err, errlen, "%s: script too large", st->name);
		return -1;
	}
	return 0;
}
