/* config: each key defined once (name, type, default, flags, bounds, help), composed into one
 * table per program, filled from `--config FILE` then the environment (which wins); validates
 * and prints itself. */
#ifndef TMPROV_CONFIG_H
#define TMPROV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
	CFG_STRING,
	CFG_INT, /* decimal integer within [min, max] */
	CFG_MS,	 /* duration: "250ms", "5s", "2m", "1h" or a bare number of ms; within [min, max] */
	CFG_BOOL,   /* true/false/1/0/yes/no/on/off */
	CFG_ENUM,   /* one of choices, "a|b|c" */
	CFG_LISTEN, /* host:port or [v6]:port */
	CFG_URL,    /* http:// or https:// URL */
};

/* CFG_SECRET: masked by --print-config and in the lines a reload logs, and also read from the
 * file that NAME_FILE names (unless the table has a key of that name itself). CFG_RELOAD: a
 * reload (SIGHUP) applies a new value; other keys' changes are listed as needing a restart. */
enum { CFG_REQUIRED = 1, CFG_SECRET = 2, CFG_RELOAD = 4 };

/* A secret file's size limit. */
#define CFG_SECRET_FILE_MAX 65536

struct cfg_key {
	const char *name; /* environment variable, e.g. "TMPROV_TM_URL" */
	enum cfg_type type;
	const char *def;     /* default as text, NULL for none */
	int flags;	     /* CFG_REQUIRED | CFG_SECRET */
	long min, max;	     /* CFG_INT, CFG_MS (ms); both 0: unbounded */
	const char *choices; /* CFG_ENUM */
	const char *help;
	/* Optional: a further check of a set value (e.g. TMPROV_KAFKA_PROPS), so that a bad one
	 * is a configuration error at start-up; 0, or -1 with err (never echoing a secret). */
	int (*check)(const char *value, char *err, size_t errlen);
	/* Optional: environment variables ("A|B") whose presence drops the default (the value
	 * becomes empty): TMPROV_DATABASE_URL's default stands back for PGDATABASE. */
	const char *default_unless_env;
};

/* Defines the key object KEY_<id> for the variable named id, so that the name programs read a
 * key by is one the compiler checks and the variable's name cannot differ from it:
 *   CFG_KEY(TMPROV_DB_POOL, CFG_INT, "8", 0, 1, 256, NULL, "help");
 * The optional fields follow by name: ..., "help", .check = kafka_props_check).
 * Keys that common/ modules or more than one program read are defined in common/cfgkeys.c,
 * the others in a module of the program that reads them. */
#define CFG_KEY(id, ...) const struct cfg_key KEY_##id = {.name = #id, __VA_ARGS__}

#define CFG_KEYS_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Where a program's use of a shared key differs from the key's definition: its own default
 * (the CLI logs errors only; each program has its own admin port) or CFG_REQUIRED. */
struct cfg_override {
	const struct cfg_key *key;
	const char *def; /* NULL: the key's own */
	int flags;	 /* added to the key's */
};

struct cfg;

/* A configuration is composed of key lists: the group each common module reads (DB_CONFIG_KEYS,
 * ...) and the program's own; then the program's overrides. */
struct cfg *cfg_new(void);
/* Adds keys; a key already in c is skipped (two groups may hold it). Two different keys of one
 * name, or too many keys, are a programming error: -1. */
int cfg_add_keys(struct cfg *c, const struct cfg_key *const *keys, size_t n);
/* Applies overrides to keys already added; -1 if one is not there. */
int cfg_add_overrides(struct cfg *c, const struct cfg_override *o, size_t n);

/* A list of keys composed into a table: a common module's group or a program's own keys. */
struct cfg_list {
	const struct cfg_key *const *keys;
	size_t n;
};

/* A program's table: the lists in order, then its overrides. NULL when out of memory or on
 * one of the programming errors above. */
struct cfg *cfg_compose(const struct cfg_list *lists, size_t nlists, const struct cfg_override *o,
			size_t no);
void cfg_free(struct cfg *c);

/* Reads FILE (KEY=value lines, '#' comments) if not NULL, then the environment, then checks
 * every value. On error returns -1 with a message naming the key in err. */
int cfg_load(struct cfg *c, const char *file, char *err, size_t errlen);

/* Reload: a fresh copy of c's table is loaded from the same --config file and the environment.
 * Changed CFG_RELOAD keys take their new value in c and are logged (old -> new, secrets
 * masked); other changed keys are logged as needing a restart and keep their value. Returns the
 * number of keys that took a new value, or -1 with err (c unchanged) when the new configuration
 * is invalid. Call it from the thread that reads the reloadable keys. */
int cfg_reload(struct cfg *c, char *err, size_t errlen);

/* The text --help prints (after "usage: "), set before cfg_from_args; without one --help is
 * left in argv for the program. */
void cfg_set_usage(struct cfg *c, const char *usage);

/* Sets one value as if it came from the environment (for tests and command-line flags). */
int cfg_set(struct cfg *c, const struct cfg_key *key, const char *value, char *err, size_t errlen);

/* Typed readers. The key must be in c; asking for a key the program's table lacks aborts,
 * since that is a programming error. Strings are NULL when unset and no default. */
const char *cfg_str(const struct cfg *c, const struct cfg_key *key);
long cfg_int(const struct cfg *c, const struct cfg_key *key); /* CFG_INT and CFG_MS (ms) */
int cfg_bool(const struct cfg *c, const struct cfg_key *key);

/* NAME=value lines, alphabetical, secrets shown as "********" when set. */
void cfg_print(const struct cfg *c, FILE *out);
/* Markdown table of the keys (`--help-config`). */
void cfg_print_doc(const struct cfg *c, FILE *out);
/* The keys as an mdoc tag list (`--help-config=mdoc`), the block `make man` puts in the manual
 * pages. */
void cfg_print_mdoc(const struct cfg *c, FILE *out);

/* Common start-up: handles `--config FILE`, `--print-config`, `--help-config[=mdoc]`,
 * `--version` and (with cfg_set_usage) `--help` in argv (removing them), loads, and on
 * --print-config prints and exits 0; --version and --help print to stdout and exit 0. On a
 * configuration error prints it to stderr and exits 2. Returns the argument count left. */
int cfg_from_args(struct cfg *c, int argc, char **argv);

/* A program's own command-line flag: "--flag value" or "--flag=value". With key set, the value
 * becomes that setting (through the environment, so it is validated and printed like any
 * other); otherwise it is stored in *dst (borrowed from argv). */
struct cfg_flag {
	const char *flag;
	const struct cfg_key *key;
	const char **dst;
};

/* Takes the flags out of argv (compacting it) before cfg_from_args; returns the argument count
 * left, or -1 when a flag lacks its value. */
int cfg_take_flags(int argc, char **argv, const struct cfg_flag *flags, size_t n);

/* Parses a duration as CFG_MS does; returns 0 or -1. */
int cfg_parse_ms(const char *s, long *out);

#endif
