/* deps: what tools/install-deps.sh declares its tasks provide (program=package and
 * python3:MODULE=package per task, and the base system's programs) and which tasks `make check`
 * installs (the Makefile's deps rule), read as text for the tests that hold the two together. */
#ifndef TMPROV_TEST_DEPS_H
#define TMPROV_TEST_DEPS_H

#include <stdbool.h>
#include <stddef.h>

#define DEPS_TASKS_MAX 16

struct deps_entry {
	char task[32];	  /* "test", ...; "system" for the base system's programs */
	char name[64];	  /* a program, or "python3:MODULE" */
	char package[64]; /* the Debian package */
};

struct deps {
	struct deps_entry *v;
	size_t n;
	char check[DEPS_TASKS_MAX][32]; /* the tasks `make check` installs */
	size_t ncheck;
};

/* A file's text (malloc'd, NUL-terminated; at most 4 MiB), or NULL with err. */
char *deps_slurp(const char *path, char *err, size_t errlen);
/* Reads src/tools/install-deps.sh and src/Makefile. 0, or -1 with err. */
int deps_load(struct deps *d, const char *src, char *err, size_t errlen);
void deps_free(struct deps *d);
/* The entry of name in task (NULL: the first of any task, check's first), or NULL. */
const struct deps_entry *deps_find(const struct deps *d, const char *task, const char *name);
/* The entry of name in one of check's tasks, or NULL. */
const struct deps_entry *deps_find_check(const struct deps *d, const char *name);
/* Whether task is one of check's. */
bool deps_is_check(const struct deps *d, const char *task);
/* "tools/install-deps.sh TASK must install it (package P)", or what to declare: the end of a
 * "NAME is missing: ..." message. */
void deps_who(const struct deps *d, const char *name, char *out, size_t outlen);
/* The directories a program is looked for in, in order: the newest PostgreSQL's bin directory
 * (if any), /usr/bin, /usr/sbin, /bin, /sbin. Returns how many it wrote (at most max). */
size_t deps_dirs(char dirs[][256], size_t max);
/* The path of program name in those directories into out; 0, or -1 when it is in none. */
int deps_locate(const char *name, char *out, size_t outlen);

#endif
