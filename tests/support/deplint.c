/* deplint: the readers behind deplint.h. The rules are the tree's own conventions, so that a
 * reading is exact rather than a guess:
 *   C: a program from outside the tree runs by the path tprog() gives. A call that searches PATH
 *      (execvp, execlp, execvpe, posix_spawnp, popen, system) or a string literal naming a
 *      program in a system directory goes around it.
 *   shell: each simple command's first word is a builtin, a function of the script, a path or
 *      expansion (a program of ours, or one found with `need`), or a base-system program of
 *      install-deps.sh's system list. Any other name goes around need.
 *   Python: `import M` and `from M import` lines of .py files. */
#include "deplint.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

#define DL_FILE_MAX (4L * 1024 * 1024) /* deps_slurp's */
#define DL_WORDS    64

/* The lookup and this reader name the system directories themselves. */
static const char *const DL_PATHS_EXEMPT[] = {"tests/support/deps.c", "tests/support/deplint.c"};
/* Where Debian puts programs: a literal path into one of these runs a program by its path. */
static const char *const DL_SYSTEM_DIRS[] = {
    "/usr/bin/",	"/usr/sbin/",	       "/bin/", "/sbin/", "/usr/local/bin/",
    "/usr/local/sbin/", "/usr/lib/postgresql/"};
/* Calls that search PATH for the program they run. */
static const char *const DL_PATH_CALLS[] = {"execvp",	    "execlp", "execvpe",
					    "posix_spawnp", "popen",  "system"};
static const char *const DL_SH_BUILTINS[] = {
    ":",	"bg",	  "break",   "builtin", "cd",	  "command", "continue", "declare",
    "echo",	"eval",	  "exit",    "export",	"false",  "getopts", "hash",	 "jobs",
    "kill",	"let",	  "local",   "mapfile", "printf", "pwd",     "read",	 "readarray",
    "readonly", "return", "set",     "shift",	"shopt",  "source",  "test",	 "trap",
    "true",	"type",	  "typeset", "ulimit",	"umask",  "unset",   "wait",	 ".",
    "[",	"[[",	  "]]",	     "]"};
/* Words before a command's name that are not it. */
static const char *const DL_SH_LEADERS[] = {"if", "then", "else", "elif", "do", "while", "until",
					    "!",  "{",	  "}",	  "time", "fi", "done"};

static bool
dl_in(const char *w, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w, set[i]) == 0)
			return true;
	return false;
}
#define DL_IN(w, set) dl_in((w), (set), sizeof(set) / sizeof((set)[0]))

static bool
dl_ident(int c)
{
	return isalnum(c) || c == '_';
}

static int
dl_line(const char *text, const char *at)
{
	int line = 1;

	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

static int
dl_use(struct deplint *l, const char *file, int line, enum deplint_how how, const char *name,
       size_t namelen, const char *task)
{
	struct deplint_use *v = realloc(l->uses, (l->nuses + 1) * sizeof(*l->uses)), *u;

	if (v == NULL)
		return -1;
	l->uses = v;
	u = &l->uses[l->nuses++];
	memset(u, 0, sizeof(*u));
	snprintf(u->file, sizeof(u->file), "%s", file);
	u->line = line;
	u->how = how;
	snprintf(u->name, sizeof(u->name), "%s%.*s",
		 how == DEPLINT_PYMOD || how == DEPLINT_IMPORT ? "python3:" : "", (int)namelen,
		 name);
	snprintf(u->task, sizeof(u->task), "%s", task ? task : "");
	return 0;
}

__attribute__((format(printf, 2, 3))) static int
dl_bypass(struct deplint *l, const char *fmt, ...)
{
	char **v = realloc(l->bypass, (l->nbypass + 1) * sizeof(*l->bypass));
	va_list ap;
	int rc;

	if (v == NULL)
		return -1;
	l->bypass = v;
	va_start(ap, fmt);
	rc = vasprintf(&l->bypass[l->nbypass], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	l->nbypass++;
	return 0;
}

/* ---- C ---- */

/* code: text with comments and the insides of string and character literals blanked (newlines
 * kept), so that positions match. */
static void
dl_c_blank(const char *text, char *code)
{
	size_t n = strlen(text);

	memcpy(code, text, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '/' && text[i + 1] == '*') {
			for (; i < n && !(text[i] == '*' && text[i + 1] == '/'); i++)
				if (code[i] != '\n')
					code[i] = ' ';
			if (i < n)
				code[i] = code[i + 1] = ' ';
			i++;
		} else if (text[i] == '/' && text[i + 1] == '/') {
			for (; i < n && text[i] != '\n'; i++)
				code[i] = ' ';
		} else if (text[i] == '"' || text[i] == '\'') {
			char q = text[i];

			for (i++; i < n && text[i] != q; i++) {
				if (text[i] == '\\' && i + 1 < n)
					code[i++] = ' ';
				code[i] = ' ';
			}
		}
	}
}

/* The string literal starting at text[i] (a '"'): its contents into out. */
static void
dl_c_literal(const char *text, size_t i, char *out, size_t outlen)
{
	size_t k = 0;

	for (i++; text[i] != '\0' && text[i] != '"' && k + 1 < outlen; i++)
		out[k++] = text[i];
	out[k] = '\0';
}

static int
dl_scan_c(struct deplint *l, const char *rel, const char *text)
{
	bool exempt = DL_IN(rel, DL_PATHS_EXEMPT);
	bool lookup_itself = strncmp(rel, "tests/support/tprog.", 20) == 0;
	char *code = malloc(strlen(text) + 1), lit[256];
	int rc = 0;

	if (code == NULL)
		return -1;
	dl_c_blank(text, code);
	for (size_t i = 0; code[i] != '\0' && rc == 0; i++) {
		if (code[i] == '"' && text[i] == '"') {
			dl_c_literal(text, i, lit, sizeof(lit));
			for (size_t k = 0;
			     !exempt && k < sizeof(DL_SYSTEM_DIRS) / sizeof(DL_SYSTEM_DIRS[0]); k++)
				if (strncmp(lit, DL_SYSTEM_DIRS[k], strlen(DL_SYSTEM_DIRS[k])) == 0)
					rc = dl_bypass(l,
						       "%s:%d: \"%s\" runs a program by its system "
						       "path: find it with tprog()",
						       rel, dl_line(text, text + i), lit);
			/* skip to the closing quote (blanked in code, so find it in text) */
			for (i++; text[i] != '\0' && text[i] != '"'; i++)
				if (text[i] == '\\' && text[i + 1] != '\0')
					i++;
			continue;
		}
		if (dl_ident((unsigned char)code[i]) &&
		    (i == 0 || (!dl_ident((unsigned char)code[i - 1]) && code[i - 1] != '.' &&
				code[i - 1] != '>'))) {
			size_t s = i, j;
			char id[32];

			while (dl_ident((unsigned char)code[i]))
				i++;
			snprintf(id, sizeof(id), "%.*s", (int)(i - s), code + s);
			for (j = i; code[j] == ' ' || code[j] == '\t' || code[j] == '\n'; j++)
				;
			i--;
			if (code[j] != '(')
				continue;
			if (DL_IN(id, DL_PATH_CALLS)) {
				rc = dl_bypass(
				    l,
				    "%s:%d: %s runs a program found on PATH: find it with "
				    "tprog() and run it by that path",
				    rel, dl_line(text, text + s), id);
			} else if (strcmp(id, "tprog") == 0 || strcmp(id, "tprog_optional") == 0 ||
				   strcmp(id, "tprog_python") == 0) {
				enum deplint_how how = id[5] == '\0'  ? DEPLINT_TPROG
						       : id[6] == 'o' ? DEPLINT_OPTIONAL
								      : DEPLINT_PYMOD;

				for (j++; text[j] == ' ' || text[j] == '\n' || text[j] == '\t'; j++)
					;
				if (text[j] != '"') {
					if (!lookup_itself)
						rc = dl_bypass(l,
							       "%s:%d: %s takes a literal name, so "
							       "that it can be checked",
							       rel, dl_line(text, text + s), id);
					continue;
				}
				dl_c_literal(text, j, lit, sizeof(lit));
				for (char *save = NULL, *m = strtok_r(lit, ", ", &save);
				     m != NULL && rc == 0; m = strtok_r(NULL, ", ", &save))
					rc = dl_use(l, rel, dl_line(text, text + s), how, m,
						    strlen(m), NULL);
			}
		}
	}
	free(code);
	return rc;
}

/* ---- shell ---- */

static const char *dl_sh_code(const char *p, struct buf *out, struct buf *extra, char stop);
static bool dl_ends(const char *s, const char *suffix);

/* p at the opening char: returns the position after its match. */
static const char *
dl_sh_balanced(const char *p, char open, char close)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '\'' && open != '{' && strchr(p + 1, '\''))
			p = strchr(p + 1, '\'');
		else if (*p == open)
			depth++;
		else if (*p == close && --depth == 0)
			return p + 1;
	}
	return p;
}

/* A command substitution: its code goes to extra as lines of its own. */
static const char *
dl_sh_sub(const char *p, struct buf *extra, char stop)
{
	struct buf tmp;

	buf_init(&tmp, DL_FILE_MAX);
	p = dl_sh_code(p, &tmp, extra, stop);
	buf_appends(extra, "\n");
	if (tmp.len > 0)
		buf_append(extra, tmp.data, tmp.len);
	buf_appends(extra, "\n");
	buf_free(&tmp);
	return p;
}

/* Inside double quotes: only substitutions are code. */
static const char *
dl_sh_dq(const char *p, struct buf *extra)
{
	while (*p != '\0' && *p != '"') {
		if (*p == '\\' && p[1] != '\0')
			p += 2;
		else if (p[0] == '$' && p[1] == '(' && p[2] != '(')
			p = dl_sh_sub(p + 2, extra, ')');
		else if (p[0] == '$' && p[1] == '{')
			p = dl_sh_balanced(p + 1, '{', '}');
		else if (*p == '`')
			p = dl_sh_sub(p + 1, extra, '`');
		else
			p++;
	}
	return *p != '\0' ? p + 1 : p;
}

/* Shell text as code: comments gone, quoted text and expansions one placeholder word "@",
 * command substitutions moved to extra. Stops after an unquoted stop at depth 0. */
static const char *
dl_sh_code(const char *p, struct buf *out, struct buf *extra, char stop)
{
	int depth = 0;
	char prev = '\n';

	while (*p != '\0') {
		char c = *p;

		if (stop != '\0' && c == stop && depth == 0)
			return p + 1;
		if (c == '\\') {
			buf_appends(out, p[1] == '\n' ? " " : "@");
			p += p[1] != '\0' ? 2 : 1;
		} else if (c == '#' && strchr(" \t\n;|&(", prev) != NULL) {
			while (*p != '\0' && *p != '\n')
				p++;
		} else if (c == '\'') {
			const char *e = strchr(p + 1, '\'');

			buf_appends(out, "@");
			p = e != NULL ? e + 1 : p + strlen(p);
		} else if (c == '$' && p[1] == '\'') {
			for (p += 2; *p != '\0' && *p != '\''; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			buf_appends(out, "@");
			p += *p != '\0';
		} else if (c == '"') {
			buf_appends(out, "@");
			p = dl_sh_dq(p + 1, extra);
		} else if (c == '$' && p[1] == '{') {
			buf_appends(out, "@");
			p = dl_sh_balanced(p + 1, '{', '}');
		} else if (c == '$' && p[1] == '(' && p[2] == '(') {
			buf_appends(out, "@");
			p = dl_sh_balanced(p + 1, '(', ')');
		} else if (c == '$' && p[1] == '(') {
			buf_appends(out, "@");
			p = dl_sh_sub(p + 2, extra, ')');
		} else if (c == '(' && p[1] == '(') {
			buf_appends(out, " @ ");
			p = dl_sh_balanced(p, '(', ')');
		} else if (c == '`') {
			buf_appends(out, "@");
			p = dl_sh_sub(p + 1, extra, '`');
		} else {
			depth += c == '(';
			depth -= c == ')' && depth > 0;
			buf_append(out, p, 1);
			p++;
		}
		prev = c;
	}
	return p;
}

/* Here-document bodies blanked: they are data. */
static void
dl_sh_heredocs(char *s)
{
	for (char *p = strstr(s, "<<"); p != NULL; p = strstr(p + 2, "<<")) {
		char word[64], *eol, *line;
		size_t k = 0;
		const char *w = p + 2;

		if (*w == '<') { /* <<< a here-string */
			p++;
			continue;
		}
		w += *w == '-';
		while (*w == ' ' || *w == '\'' || *w == '"')
			w++;
		while (dl_ident((unsigned char)*w) && k + 1 < sizeof(word))
			word[k++] = *w++;
		word[k] = '\0';
		if (k == 0 || (eol = strchr(w, '\n')) == NULL)
			continue;
		for (line = eol + 1; *line != '\0';) {
			char *end = strchr(line, '\n'), *t = line;

			while (*t == '\t')
				t++;
			if (strncmp(t, word, k) == 0 && (t[k] == '\n' || t[k] == '\0')) {
				memset(line, ' ', (size_t)(t + k - line));
				break;
			}
			if (end == NULL) {
				memset(line, ' ', strlen(line));
				break;
			}
			memset(line, ' ', (size_t)(end - line));
			line = end + 1;
		}
	}
}

struct dl_sh {
	struct deplint *l;
	const struct deps *d;
	const char *rel;
	char task[32];
	char funcs[64][48];
	size_t nfuncs;
	int case_depth;
	bool case_pattern;
	int rc;
};

static bool
dl_sh_assignment(const char *w)
{
	const char *p = w;

	if (*p == '[')
		return strstr(p, "]=") != NULL; /* an element of a compound array assignment */
	if (!isalpha((unsigned char)*p) && *p != '_')
		return false;
	while (dl_ident((unsigned char)*p))
		p++;
	if (*p == '[')
		p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
	return p[0] == '=' || (p[0] == '+' && p[1] == '=');
}

/* A redirection word: 1 when it carries its target, 2 when the target is the next word. */
static int
dl_sh_redirection(const char *w)
{
	const char *p = w;

	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '&' && p[1] == '>')
		p++;
	if (*p != '<' && *p != '>')
		return 0;
	while (*p == '<' || *p == '>' || *p == '&')
		p++;
	return *p == '\0' ? 2 : 1;
}

static bool
dl_sh_func(const struct dl_sh *s, const char *w)
{
	for (size_t i = 0; i < s->nfuncs; i++)
		if (strcmp(s->funcs[i], w) == 0)
			return true;
	return false;
}

/* The command word words[i] (and what timeout runs after it). */
static void
dl_sh_command(struct dl_sh *s, char **words, size_t n, size_t i)
{
	const struct deps_entry *e;
	const char *w = words[i];

	if (w[0] == '@' || w[0] == '$')
		return; /* an expansion: a program of ours or one found with need */
	if (strchr(w, '/') != NULL) {
		for (size_t k = 0; k < sizeof(DL_SYSTEM_DIRS) / sizeof(DL_SYSTEM_DIRS[0]); k++)
			if (strncmp(w, DL_SYSTEM_DIRS[k], strlen(DL_SYSTEM_DIRS[k])) == 0)
				s->rc |= dl_bypass(s->l,
						   "%s: runs %s by its system path: find it with "
						   "need (tools/need.sh)",
						   s->rel, w);
		if (w[0] != '/' && dl_ends(w, ".sh")) /* one of the tree's scripts */
			s->rc |= dl_use(s->l, s->rel, 0, DEPLINT_RUNS, w, strlen(w), s->task);
		return; /* a path in the tree */
	}
	if (strcmp(w, "need") == 0) {
		if (i + 1 < n && words[i + 1][0] != '@' && words[i + 1][0] != '$')
			s->rc |= dl_use(s->l, s->rel, 0, DEPLINT_NEED, words[i + 1],
					strlen(words[i + 1]), s->task);
		return;
	}
	if (DL_IN(w, DL_SH_BUILTINS) || dl_sh_func(s, w))
		return;
	e = deps_find(s->d, "system", w);
	if (e == NULL) {
		if (deps_find(s->d, NULL, w) != NULL)
			s->rc |= dl_bypass(s->l,
					   "%s: runs %s by name: find it with need (tools/need.sh)",
					   s->rel, w);
		else
			s->rc |= dl_bypass(s->l,
					   "%s: runs %s, neither a base-system program "
					   "(install-deps.sh's system list) nor found with need",
					   s->rel, w);
		return;
	}
	if (strcmp(w, "timeout") == 0) { /* timeout [-k N] [-s SIG] DURATION COMMAND */
		size_t j = i + 1;

		while (j < n && words[j][0] == '-')
			j += strcmp(words[j], "-k") == 0 || strcmp(words[j], "-s") == 0 ? 2 : 1;
		if (j + 1 < n)
			dl_sh_command(s, words, n, j + 1);
	}
}

static void
dl_sh_segment(struct dl_sh *s, char *seg, const char *sep)
{
	char *words[DL_WORDS], *save = NULL;
	size_t n = 0, i = 0;

	for (char *w = strtok_r(seg, " \t\r", &save); w != NULL && n < DL_WORDS;
	     w = strtok_r(NULL, " \t\r", &save))
		words[n++] = w;
	if (s->case_pattern) { /* a case pattern list: words up to ')' */
		if (n > 0 && strcmp(words[0], "esac") == 0) {
			s->case_depth--;
			s->case_pattern = false;
		} else if (strcmp(sep, ")") == 0) {
			s->case_pattern = false;
		}
		return;
	}
	while (i < n) {
		int r;

		if (strcmp(words[i], "esac") == 0) {
			s->case_depth--;
			i++;
		} else if (DL_IN(words[i], DL_SH_LEADERS) || dl_sh_assignment(words[i])) {
			i++;
		} else if ((r = dl_sh_redirection(words[i])) != 0) {
			i += (size_t)r;
		} else {
			break;
		}
	}
	if (i < n) {
		if (strcmp(words[i], "case") == 0) {
			s->case_depth++;
			s->case_pattern = strcmp(sep, ")") != 0;
		} else if (strcmp(words[i], "for") != 0 && strcmp(words[i], "select") != 0 &&
			   strcmp(words[i], "in") != 0) {
			dl_sh_command(s, words, n, i);
		}
	}
	if (strcmp(sep, ";;") == 0 && s->case_depth > 0)
		s->case_pattern = true;
}

static int
dl_scan_sh(struct deplint *l, const char *rel, const char *text, const struct deps *d)
{
	struct dl_sh s = {.l = l, .d = d, .rel = rel};
	struct buf code, extra;
	char *copy = strdup(text), *p, *seg;
	const char *t;

	if (copy == NULL)
		return -1;
	/* Functions: NAME() at a line's start; need when the script sources tools/need.sh. */
	for (p = copy; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *q = p;
		size_t k = 0;

		while (*q == ' ' || *q == '\t')
			q++;
		while ((dl_ident((unsigned char)q[k]) || q[k] == '-') && k < 47)
			k++;
		if (k > 0 && strncmp(q + k, "()", 2) == 0 && s.nfuncs < 64)
			snprintf(s.funcs[s.nfuncs++], sizeof(s.funcs[0]), "%.*s", (int)k, q);
	}
	dl_sh_heredocs(copy);
	buf_init(&code, DL_FILE_MAX);
	buf_init(&extra, DL_FILE_MAX);
	dl_sh_code(copy, &code, &extra, '\0');
	buf_appends(&code, "\n");
	if (extra.len > 0)
		buf_append(&code, extra.data, extra.len);
	/* The script's own task: `tools/install-deps.sh TASK` in its code. */
	if (code.data != NULL && (t = strstr(code.data, "tools/install-deps.sh ")) != NULL) {
		size_t k = 0;

		t += 22;
		while (islower((unsigned char)t[k]) && k + 1 < sizeof(s.task))
			k++;
		snprintf(s.task, sizeof(s.task), "%.*s", (int)k, t);
	}
	for (p = seg = code.data; p != NULL && *p != '\0';) {
		const char *sep = NULL;
		size_t len = 1;

		if (*p == '\n' || *p == '(' || *p == ')') {
			sep = *p == '\n' ? "\n" : *p == '(' ? "(" : ")";
		} else if (*p == ';') {
			sep = p[1] == ';' ? ";;" : ";";
			len = strlen(sep);
		} else if (*p == '|') {
			sep = "|";
			len = p[1] == '|' ? 2 : 1;
		} else if (*p == '&' && !(p > code.data && (p[-1] == '>' || p[-1] == '<')) &&
			   p[1] != '>') {
			sep = "&";
			len = p[1] == '&' ? 2 : 1;
		}
		if (sep == NULL) {
			p++;
			continue;
		}
		*p = '\0';
		dl_sh_segment(&s, seg, sep);
		p += len;
		seg = p;
	}
	if (seg != NULL && *seg != '\0')
		dl_sh_segment(&s, seg, "\n");
	buf_free(&code);
	buf_free(&extra);
	free(copy);
	return s.rc != 0 ? -1 : 0;
}

/* ---- Python ---- */

static int
dl_scan_py(struct deplint *l, const char *rel, const char *text)
{
	int line = 1, rc = 0;

	for (const char *p = text; *p != '\0' && rc == 0; line++) {
		const char *eol = strchr(p, '\n'), *q = p;

		if (eol == NULL)
			eol = p + strlen(p);
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "import ", 7) == 0) {
			for (q += 7; q < eol && rc == 0;) {
				const char *m;

				while (q < eol && (*q == ' ' || *q == ','))
					q++;
				m = q;
				while (q < eol && (dl_ident((unsigned char)*q)))
					q++;
				if (q > m)
					rc = dl_use(l, rel, line, DEPLINT_IMPORT, m,
						    (size_t)(q - m), NULL);
				while (q < eol && *q != ',') /* ".sub", " as name" */
					q++;
			}
		} else if (strncmp(q, "from ", 5) == 0 && q[5] != '.') {
			const char *m = q + 5;

			q = m;
			while (q < eol && dl_ident((unsigned char)*q))
				q++;
			if (q > m)
				rc = dl_use(l, rel, line, DEPLINT_IMPORT, m, (size_t)(q - m), NULL);
		}
		p = *eol != '\0' ? eol + 1 : eol;
	}
	return rc;
}

/* ---- the tree ---- */

static bool
dl_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

struct dl_walk {
	struct deplint *l;
	const struct deps *d;
	const char *src;
	char *err;
	size_t errlen;
};

static int
dl_walk(struct dl_walk *w, const char *rel, bool scripts)
{
	char path[1024];
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", w->src, rel);
	dir = opendir(path);
	if (dir == NULL)
		return 0; /* a folder this tree does not have */
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		char sub[1024], full[2048];
		struct stat st;
		char *text;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		snprintf(full, sizeof(full), "%s/%s", w->src, sub);
		if (stat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			rc = dl_walk(w, sub, scripts);
			continue;
		}
		if (!dl_ends(sub, ".c") && !dl_ends(sub, ".h") && !dl_ends(sub, ".py") &&
		    !dl_ends(sub, ".sh") && !(scripts && (st.st_mode & 0111)))
			continue;
		if ((text = deps_slurp(full, w->err, w->errlen)) == NULL) {
			rc = -1;
			break;
		}
		if (dl_ends(sub, ".c") || dl_ends(sub, ".h")) {
			w->l->nc++;
			rc = dl_scan_c(w->l, sub, text);
		} else if (dl_ends(sub, ".py")) {
			w->l->npy++;
			rc = dl_scan_py(w->l, sub, text);
		} else if (scripts && (dl_ends(sub, ".sh") ||
				       (strncmp(text, "#!", 2) == 0 && strstr(text, "sh") != NULL &&
					strstr(text, "sh") < strchr(text, '\n')))) {
			w->l->nsh++;
			rc = dl_scan_sh(w->l, sub, text, w->d);
		}
		free(text);
		if (rc != 0 && w->err[0] == '\0')
			snprintf(w->err, w->errlen, "%s: out of memory", sub);
	}
	closedir(dir);
	return rc;
}

int
deplint_scan(struct deplint *l, const char *src, const struct deps *d, char *err, size_t errlen)
{
	struct dl_walk w = {.l = l, .d = d, .src = src, .err = err, .errlen = errlen};

	memset(l, 0, sizeof(*l));
	err[0] = '\0';
	if (dl_walk(&w, "common", false) != 0 || dl_walk(&w, "workers", false) != 0 ||
	    dl_walk(&w, "tools", true) != 0 || dl_walk(&w, "tests", true) != 0)
		return -1;
	return 0;
}

int
deplint_scan_text(struct deplint *l, const char *rel, const char *text, const struct deps *d)
{
	if (dl_ends(rel, ".c") || dl_ends(rel, ".h"))
		return dl_scan_c(l, rel, text);
	if (dl_ends(rel, ".py"))
		return dl_scan_py(l, rel, text);
	return dl_scan_sh(l, rel, text, d);
}

int
deplint_setup(void **state)
{
	struct deplint_fixture *f = calloc(1, sizeof(*f));
	char err[512];

	*state = f;
	if (f == NULL)
		return -1;
	f->src = getenv("TMPROV_TEST_SRC");
	if (f->src == NULL) {
		fprintf(stderr, "TMPROV_TEST_SRC is not set\n");
		return -1;
	}
	if (deps_load(&f->d, f->src, err, sizeof(err)) != 0 ||
	    deplint_scan(&f->l, f->src, &f->d, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

int
deplint_teardown(void **state)
{
	struct deplint_fixture *f = *state;

	if (f != NULL) {
		deplint_free(&f->l);
		deps_free(&f->d);
		free(f);
	}
	return 0;
}

void
deplint_free(struct deplint *l)
{
	for (size_t i = 0; i < l->nbypass; i++)
		free(l->bypass[i]);
	free(l->bypass);
	free(l->uses);
	memset(l, 0, sizeof(*l));
}
