/* Tests for common/config: file + environment precedence, typed parsing, bounds, errors that
 * name the key, secret masking in --print-config output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static CFG_KEY(T_URL, CFG_URL, NULL, CFG_REQUIRED, 0, 0, NULL, "base URL");
static CFG_KEY(T_NAME, CFG_STRING, "dflt", 0, 0, 0, NULL, "a name");
static CFG_KEY(T_COUNT, CFG_INT, "64", 0, 1, 1024, NULL, "a count");
static CFG_KEY(T_WAIT, CFG_MS, "5s", 0, 10, 600000, NULL, "a duration");
static CFG_KEY(T_FLAG, CFG_BOOL, "false", 0, 0, 0, NULL, "a flag");
static CFG_KEY(T_MODE, CFG_ENUM, "park", 0, 0, 0, "park|retry|fail", "a policy");
static CFG_KEY(T_LISTEN, CFG_LISTEN, "127.0.0.1:8090", 0, 0, 0, NULL, "an address");
static CFG_KEY(T_SECRET, CFG_STRING, NULL, CFG_SECRET, 0, 0, NULL, "a secret");

static const struct cfg_key *const keys[] = {
    &KEY_T_URL,	 &KEY_T_NAME, &KEY_T_COUNT,  &KEY_T_WAIT,
    &KEY_T_FLAG, &KEY_T_MODE, &KEY_T_LISTEN, &KEY_T_SECRET,
};

static void
clear_env(void)
{
	for (size_t i = 0; i < CFG_KEYS_LEN(keys); i++)
		unsetenv(keys[i]->name);
}

static struct cfg *
load(const char *file, int expect_rc, char *err, size_t errlen)
{
	struct cfg *c = cfg_new();

	assert_non_null(c);
	assert_int_equal(cfg_add_keys(c, keys, CFG_KEYS_LEN(keys)), 0);
	assert_int_equal(cfg_load(c, file, err, errlen), expect_rc);
	return c;
}

static void
test_defaults_and_types(void **state)
{
	char err[256] = "";
	struct cfg *c;

	(void)state;
	clear_env();
	setenv("T_URL", "http://tm.example:8080", 1);
	c = load(NULL, 0, err, sizeof(err));
	assert_string_equal(cfg_str(c, &KEY_T_NAME), "dflt");
	assert_int_equal(cfg_int(c, &KEY_T_COUNT), 64);
	assert_int_equal(cfg_int(c, &KEY_T_WAIT), 5000);
	assert_false(cfg_bool(c, &KEY_T_FLAG));
	assert_string_equal(cfg_str(c, &KEY_T_MODE), "park");
	assert_null(cfg_str(c, &KEY_T_SECRET));
	cfg_free(c);
}

static void
test_durations(void **state)
{
	static const struct {
		const char *in;
		long ms;
		int rc;
	} cases[] = {
	    {"250ms", 250, 0},
	    {"5s", 5000, 0},
	    {"2m", 120000, 0},
	    {"1h", 3600000, 0},
	    {"42", 42, 0},
	    {"", 0, -1},
	    {"5x", 0, -1},
	    {"-5s", 0, -1},
	    {"s", 0, -1},
	    {"5 s", 0, -1},
	    {"99999999999999999999", 0, -1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long ms = -7;
		assert_int_equal(cfg_parse_ms(cases[i].in, &ms), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(ms, cases[i].ms);
	}
}

/* Each bad value fails the load with a message that starts with the key's name. */
static void
test_bad_values_name_the_key(void **state)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
	    {"T_URL", "ftp://x"},	{"T_URL", "http://"},
	    {"T_COUNT", "12abc"},	{"T_COUNT", "0"},
	    {"T_COUNT", "2048"},	{"T_WAIT", "soon"},
	    {"T_WAIT", "1ms"},		{"T_FLAG", "maybe"},
	    {"T_MODE", "sometimes"},	{"T_MODE", "par"},
	    {"T_LISTEN", "8090"},	{"T_LISTEN", "host:99999"},
	    {"T_URL", "http://a b"},	{"T_URL", "http://b\xc3\xa4r.example"},
	    {"T_URL", "http://a/\x7f"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct cfg *c;

		clear_env();
		setenv("T_URL", "http://tm", 1);
		setenv(cases[i].key, cases[i].value, 1);
		c = load(NULL, -1, err, sizeof(err));
		assert_int_equal(strncmp(err, cases[i].key, strlen(cases[i].key)), 0);
		cfg_free(c);
	}
}

static void
test_required_missing(void **state)
{
	char err[256] = "";
	struct cfg *c;

	(void)state;
	clear_env();
	c = load(NULL, -1, err, sizeof(err));
	assert_non_null(strstr(err, "T_URL: required"));
	cfg_free(c);
}

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_config_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_file_and_env_precedence(void **state)
{
	char err[256] = "";
	char *path = write_tmp("# comment\n\nT_URL = http://from-file\nT_NAME=file\n"
			       "T_COUNT=7\n");
	struct cfg *c;

	(void)state;
	clear_env();
	setenv("T_NAME", "env", 1);
	c = load(path, 0, err, sizeof(err));
	assert_string_equal(cfg_str(c, &KEY_T_URL), "http://from-file");
	assert_string_equal(cfg_str(c, &KEY_T_NAME), "env"); /* the environment wins */
	assert_int_equal(cfg_int(c, &KEY_T_COUNT), 7);
	cfg_free(c);
	unlink(path);
	free(path);
}

static void
test_file_errors(void **state)
{
	static const char *const bad[] = {"T_URL=http://x\nNOT_A_KEY=1\n",
					  "# note\nT_URL http://x\n"};
	char err[256];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char *path = write_tmp(bad[i]);
		struct cfg *c;

		clear_env();
		err[0] = '\0';
		c = load(path, -1, err, sizeof(err));
		assert_non_null(strstr(err, ":2:"));
		cfg_free(c);
		unlink(path);
		free(path);
	}
	clear_env();
	err[0] = '\0';
	cfg_free(load("/nonexistent/tmprov.conf", -1, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/tmprov.conf"));
}

static void
test_print_masks_secrets(void **state)
{
	char err[256] = "", out[2048] = "";
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	struct cfg *c;

	(void)state;
	clear_env();
	setenv("T_URL", "http://tm", 1);
	setenv("T_SECRET", "hunter2-very-secret", 1);
	c = load(NULL, 0, err, sizeof(err));
	cfg_print(c, f);
	fclose(f);
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, "T_SECRET=********\n"));
	assert_non_null(strstr(out, "T_URL=http://tm\n"));
	/* alphabetical */
	assert_true(strstr(out, "T_COUNT=") < strstr(out, "T_URL="));
	cfg_free(c);
}

/* Writes text to a new temporary file and returns its path (caller unlinks and frees). */
static char *write_tmp(const char *text);

/* A secret also comes from the file NAME_FILE names, one trailing newline trimmed; both set is
 * refused naming both; an unreadable file is named, its contents never shown. */
static void
test_secret_file(void **state)
{
	char err[256] = "", *big = calloc(1, 70000), *path, *bigpath;
	struct cfg *c;

	(void)state;
	assert_non_null(big);
	clear_env();
	setenv("T_URL", "http://tm", 1);
	path = write_tmp("s3cret-from-file\n\n");
	setenv("T_SECRET_FILE", path, 1);
	c = load(NULL, 0, err, sizeof(err));
	assert_string_equal(cfg_str(c, &KEY_T_SECRET), "s3cret-from-file\n");
	cfg_free(c);

	setenv("T_SECRET", "inline-secret", 1);
	c = load(NULL, -1, err, sizeof(err));
	assert_non_null(strstr(err, "T_SECRET and T_SECRET_FILE are both set"));
	assert_null(strstr(err, "s3cret"));
	assert_null(strstr(err, "inline-secret"));
	cfg_free(c);
	unsetenv("T_SECRET");

	setenv("T_SECRET_FILE", "/nonexistent/secret-file", 1);
	c = load(NULL, -1, err, sizeof(err));
	assert_non_null(strstr(err, "T_SECRET_FILE: cannot read /nonexistent/secret-file"));
	cfg_free(c);

	memset(big, 'h', 69999);
	memcpy(big, "hunter2", 7);
	bigpath = write_tmp(big);
	setenv("T_SECRET_FILE", bigpath, 1);
	c = load(NULL, -1, err, sizeof(err));
	assert_non_null(strstr(err, bigpath));
	assert_null(strstr(err, "hunter2"));
	cfg_free(c);
	unsetenv("T_SECRET_FILE");
	unlink(path);
	unlink(bigpath);
	free(path);
	free(bigpath);
	free(big);
}

/* NAME_FILE in --config FILE too; both there is refused; only secrets have the form. */
static void
test_secret_file_in_config_file(void **state)
{
	char err[512] = "", text[600], *secret = write_tmp("from-config-file\n"), *conf;
	struct cfg *c;

	(void)state;
	clear_env();
	snprintf(text, sizeof(text), "T_URL=http://tm\nT_SECRET_FILE=%s\n", secret);
	conf = write_tmp(text);
	c = load(conf, 0, err, sizeof(err));
	assert_string_equal(cfg_str(c, &KEY_T_SECRET), "from-config-file");
	cfg_free(c);
	/* the environment still wins over the file's NAME_FILE */
	setenv("T_SECRET", "from-env", 1);
	c = load(conf, 0, err, sizeof(err));
	assert_string_equal(cfg_str(c, &KEY_T_SECRET), "from-env");
	cfg_free(c);
	unsetenv("T_SECRET");
	unlink(conf);
	free(conf);

	snprintf(text, sizeof(text), "T_URL=http://tm\nT_SECRET_FILE=%s\nT_SECRET=x\n", secret);
	conf = write_tmp(text);
	c = load(conf, -1, err, sizeof(err));
	assert_non_null(strstr(err, "T_SECRET and T_SECRET_FILE are both set"));
	cfg_free(c);
	unlink(conf);
	free(conf);

	conf = write_tmp("T_URL=http://tm\nT_NAME_FILE=/etc/hostname\n");
	c = load(conf, -1, err, sizeof(err));
	assert_non_null(strstr(err, "T_NAME_FILE: unknown setting"));
	cfg_free(c);
	unlink(conf);
	free(conf);
	unlink(secret);
	free(secret);
}

static CFG_KEY(T_LEVEL, CFG_ENUM, "info", CFG_RELOAD, 0, 0, "debug|info", "reloadable");
static CFG_KEY(T_DB, CFG_STRING, "postgresql:///x", CFG_SECRET, 0, 0, NULL, "a database",
	       .default_unless_env = "T_PGSVC|T_PGDB");

/* A reload applies the reloadable keys' new values, keeps the others' (listing them as needing
 * a restart), logs both without a secret's value, and keeps everything on a bad file. */
static void
test_reload(void **state)
{
	static const struct cfg_key *const rkeys[] = {&KEY_T_NAME, &KEY_T_LEVEL, &KEY_T_SECRET};
	const struct cfg_list list = {rkeys, CFG_KEYS_LEN(rkeys)};
	char err[256] = "", log[4096] = "",
	     *conf = write_tmp("T_NAME=a\nT_LEVEL=info\n"
			       "T_SECRET=old-secret-value\n");
	char logpath[] = "/tmp/test_config_log_XXXXXX";
	int logfd = mkstemp(logpath), saved = dup(2);
	struct cfg *c = cfg_compose(&list, 1, NULL, 0);
	FILE *f;

	(void)state;
	clear_env();
	unsetenv("T_LEVEL");
	assert_non_null(c);
	assert_int_equal(cfg_load(c, conf, err, sizeof(err)), 0);
	/* cfg_reload reads the file cfg_from_args was given; cfg_load alone does not keep it */
	{
		char *argv[] = {"prog", "--config", conf, NULL};

		cfg_free(c);
		c = cfg_compose(&list, 1, NULL, 0);
		assert_int_equal(cfg_from_args(c, 3, argv), 1);
	}
	f = fopen(conf, "w");
	fputs("T_NAME=b\nT_LEVEL=debug\nT_SECRET=new-secret-value\n", f);
	fclose(f);
	dup2(logfd, 2);
	assert_int_equal(cfg_reload(c, err, sizeof(err)), 1);
	dup2(saved, 2);
	assert_string_equal(cfg_str(c, &KEY_T_LEVEL), "debug");
	assert_string_equal(cfg_str(c, &KEY_T_NAME), "a");
	assert_string_equal(cfg_str(c, &KEY_T_SECRET), "old-secret-value");
	assert_true(pread(logfd, log, sizeof(log) - 1, 0) > 0);
	assert_non_null(strstr(log, "T_LEVEL changed from \\\"info\\\" to \\\"debug\\\""));
	assert_non_null(strstr(log, "T_NAME changed from \\\"a\\\" to \\\"b\\\": needs a restart"));
	assert_non_null(strstr(log, "T_SECRET changed (secret"));
	assert_null(strstr(log, "secret-value"));

	f = fopen(conf, "w");
	fputs("T_LEVEL=loud\n", f);
	fclose(f);
	assert_int_equal(cfg_reload(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "T_LEVEL"));
	assert_string_equal(cfg_str(c, &KEY_T_LEVEL), "debug");
	cfg_free(c);
	close(logfd);
	close(saved);
	unlink(logpath);
	unlink(conf);
	free(conf);
}

/* A default that stands back for another variable (TMPROV_DATABASE_URL for PGDATABASE). */
static void
test_default_unless_env(void **state)
{
	static const struct cfg_key *const dkeys[] = {&KEY_T_DB};
	const struct cfg_list list = {dkeys, 1};
	char err[256] = "";
	struct cfg *c;

	(void)state;
	unsetenv("T_DB");
	unsetenv("T_PGDB");
	c = cfg_compose(&list, 1, NULL, 0);
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg_str(c, &KEY_T_DB), "postgresql:///x");
	cfg_free(c);
	setenv("T_PGDB", "other", 1);
	c = cfg_compose(&list, 1, NULL, 0);
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg_str(c, &KEY_T_DB), "");
	cfg_free(c);
	setenv("T_DB", "dbname=mine", 1);
	c = cfg_compose(&list, 1, NULL, 0);
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg_str(c, &KEY_T_DB), "dbname=mine");
	cfg_free(c);
	unsetenv("T_DB");
	unsetenv("T_PGDB");
}

/* A key of no table this test composes. */
static CFG_KEY(NOPE, CFG_INT, "1", 0, 0, 0, NULL, "not in the table");

static void
test_set_checks_value(void **state)
{
	char err[256] = "";
	struct cfg *c;

	(void)state;
	clear_env();
	setenv("T_URL", "http://tm", 1);
	c = load(NULL, 0, err, sizeof(err));
	assert_int_equal(cfg_set(c, &KEY_T_COUNT, "100", err, sizeof(err)), 0);
	assert_int_equal(cfg_int(c, &KEY_T_COUNT), 100);
	assert_int_equal(cfg_set(c, &KEY_T_COUNT, "x", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(c, &KEY_NOPE, "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NOPE: unknown setting"));
	cfg_free(c);
}

/* The --help-config table: one row per key, choices listed without breaking the table. */
static void
test_print_doc(void **state)
{
	char out[4096] = "";
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	struct cfg *c = cfg_new();
	int rows = 0;

	(void)state;
	assert_int_equal(cfg_add_keys(c, keys, CFG_KEYS_LEN(keys)), 0);
	cfg_print_doc(c, f);
	fclose(f);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		int bars = 0;

		for (char *p = line; *p; p++)
			bars += *p == '|';
		assert_int_equal(bars, 4);
		rows++;
	}
	assert_int_equal(rows, 2 + (int)CFG_KEYS_LEN(keys));
	cfg_free(c);
	f = fmemopen(out, sizeof(out) - 1, "w");
	c = cfg_new();
	assert_int_equal(cfg_add_keys(c, keys, CFG_KEYS_LEN(keys)), 0);
	cfg_print_doc(c, f);
	fclose(f);
	assert_non_null(
	    strstr(out, "| T_MODE | a policy (one of: park, retry, fail) | `park` |\n"));
	assert_non_null(strstr(out, "| T_URL | base URL | required |\n"));
	assert_non_null(strstr(
	    out,
	    "| T_SECRET | a secret (secret) (or T_SECRET_FILE: a file holding it) | none |\n"));
	cfg_free(c);
}

/* A program's table: shared keys composed once however many groups hold them, a second
 * definition of a name refused, and the program's own default and required flag. */
static void
test_compose_and_override(void **state)
{
	static const struct cfg_key *const again[] = {&KEY_T_NAME, &KEY_T_COUNT};
	const struct cfg_override own[] = {{&KEY_T_NAME, "mine", 0},
					   {&KEY_T_SECRET, NULL, CFG_REQUIRED}};
	const struct cfg_override absent[] = {{&KEY_NOPE, "2", 0}};
	char err[256] = "", out[4096] = "";
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	struct cfg *c = cfg_new();

	(void)state;
	clear_env();
	setenv("T_URL", "http://tm", 1);
	assert_int_equal(cfg_add_keys(c, keys, CFG_KEYS_LEN(keys)), 0);
	assert_int_equal(cfg_add_keys(c, again, CFG_KEYS_LEN(again)), 0);
	assert_int_equal(cfg_add_overrides(c, own, CFG_KEYS_LEN(own)), 0);
	assert_int_equal(cfg_add_overrides(c, absent, CFG_KEYS_LEN(absent)), -1);
	cfg_print_doc(c, f);
	fclose(f);
	assert_non_null(strstr(out, "| T_NAME | a name | `mine` |\n"));
	assert_non_null(strstr(
	    out,
	    "| T_SECRET | a secret (secret) (or T_SECRET_FILE: a file holding it) | required |\n"));
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "T_SECRET: required"));
	setenv("T_SECRET", "s", 1);
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg_str(c, &KEY_T_NAME), "mine");
	unsetenv("T_SECRET");
	cfg_free(c);
}

/* Two objects of one name cannot both be in a table: the name would mean two things. */
static CFG_KEY(T_COUNT_TWIN, CFG_INT, "1", 0, 0, 0, NULL, "a twin");

static void
test_one_definition_per_name(void **state)
{
	struct cfg_key twin = KEY_T_COUNT_TWIN;
	const struct cfg_key *const both[] = {&KEY_T_COUNT, &twin};
	struct cfg *c = cfg_new();

	(void)state;
	twin.name = "T_COUNT";
	assert_int_equal(cfg_add_keys(c, both, 2), -1);
	cfg_free(c);
}

/* The man pages' key list: one tagged item per key, each sentence on its own line, backslashes
 * escaped, the default quoted or "Required.", and no line a control line by accident. */
static void
test_print_mdoc(void **state)
{
	static CFG_KEY(T_TEXT, CFG_STRING, NULL, 0, 0, 0, NULL,
		       "First (`--flag`). Second, e.g. Third; k=v (\\, escapes).");
	static CFG_KEY(T_DOT, CFG_MS, "2m", 0, 0, 86400000, NULL, ".starts with a dot");
	static CFG_KEY(
	    T_LONG, CFG_STRING, NULL, 0, 0, 0, NULL,
	    "Eighty is the most mandoc -Tlint wants on an input line, so longer input lines "
	    ".wrap at a space, https://a.very.long.example/of/a/word/that/has/no/space/"
	    "in/it/at/all/and/stays/whole/on/its/own/line then the rest.");
	const struct cfg_key *const more[] = {&KEY_T_TEXT, &KEY_T_DOT, &KEY_T_LONG};
	char out[8192] = "";
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	struct cfg *c = cfg_new();

	(void)state;
	assert_int_equal(cfg_add_keys(c, keys, CFG_KEYS_LEN(keys)), 0);
	assert_int_equal(cfg_add_keys(c, more, CFG_KEYS_LEN(more)), 0);
	cfg_print_mdoc(c, f);
	fclose(f);
	assert_true(strncmp(out, ".Bl -tag -width Ds\n", 19) == 0);
	assert_non_null(strstr(out, "\n.El\n"));
	assert_non_null(strstr(out, ".It Ev T_TEXT\nFirst (\\(oq--flag\\(cq).\nSecond, e.g. Third; "
				    "k=v (\\e, escapes).\n.It"));
	assert_non_null(strstr(out, ".It Ev T_DOT\n\\&.starts with a dot.\nA duration from 0 "
				    "to 24h.\nDefault:\n.Ql \"2m\" .\n"));
	assert_non_null(
	    strstr(out, ".It Ev T_URL\nbase URL.\nAn http or https URL, in printable ASCII.\n"
			"Required.\n"));
	assert_non_null(strstr(out, ".It Ev T_MODE\na policy.\nOne of\n.Cm park , retry , "
				    "fail .\nDefault:\n.Ql \"park\" .\n"));
	assert_non_null(strstr(
	    out, ".It Ev T_LONG\nEighty is the most mandoc -Tlint wants on an "
		 "input line, so longer input lines\n\\&.wrap at a space,\nhttps://a.very.long."
		 "example/of/a/word/that/has/no/space/in/it/at/all/and/stays/whole/on/"
		 "its/own/line\nthen the rest.\n"));
	assert_non_null(strstr(out, "An integer from 1 to 1024.\n"));
	assert_non_null(strstr(out, "Secret:\n.Fl -print-config\nmasks it.\n"));
	/* alphabetical, like --help-config */
	assert_true(strstr(out, "T_COUNT\n") < strstr(out, "T_URL\n"));
	cfg_free(c);
}

static void
test_take_flags(void **state)
{
	char a0[] = "prog", a1[] = "--listen", a2[] = "127.0.0.1:1", a3[] = "--keep",
	     a4[] = "--port-file=/tmp/p", a5[] = "x", a6[] = "--port-file";
	char *argv[] = {a0, a1, a2, a3, a4, a5, NULL};
	char *bad[] = {a0, a6, NULL};
	const char *port_file = NULL;
	const struct cfg_flag flags[] = {{"--listen", &KEY_T_LISTEN, NULL},
					 {"--port-file", NULL, &port_file}};

	(void)state;
	unsetenv("T_LISTEN");
	assert_int_equal(cfg_take_flags(6, argv, flags, 2), 3);
	assert_string_equal(argv[1], "--keep");
	assert_string_equal(argv[2], "x");
	assert_null(argv[3]);
	assert_string_equal(getenv("T_LISTEN"), "127.0.0.1:1");
	assert_string_equal(port_file, "/tmp/p");
	assert_int_equal(cfg_take_flags(2, bad, flags, 2), -1); /* a flag without its value */
	unsetenv("T_LISTEN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_types),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_bad_values_name_the_key),
	    cmocka_unit_test(test_required_missing),
	    cmocka_unit_test(test_file_and_env_precedence),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_print_masks_secrets),
	    cmocka_unit_test(test_set_checks_value),
	    cmocka_unit_test(test_print_doc),
	    cmocka_unit_test(test_compose_and_override),
	    cmocka_unit_test(test_one_definition_per_name),
	    cmocka_unit_test(test_print_mdoc),
	    cmocka_unit_test(test_take_flags),
	    cmocka_unit_test(test_secret_file),
	    cmocka_unit_test(test_secret_file_in_config_file),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_default_unless_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
