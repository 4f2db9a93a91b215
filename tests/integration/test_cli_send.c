/* Integration tests of `tmprov send`, `tmprov import` and `tmprov events` against a real local
 * stack (wenv: its own database, broker topics, tmsim and worker): the --wait summary counts,
 * bad lines and rows reported by number while the others are processed, --dry-run sending
 * nothing, an import run twice creating nothing twice at TM, and the events as lines and JSON,
 * followed live. Also the usage contract of every subcommand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/clirun.h"
#include "../support/cmdjson.h"
#include "../support/wenv.h"

#define CLI_MS 60000

static struct wenv *E;

static const char *const *
settings(void)
{
	return (const char *const *)E->settings;
}

/* Writes text to $TMPROV_TEST_TMP/name and returns the path (static buffer). */
static const char *
scratch(const char *name, const char *text)
{
	static char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%ld", getenv("TMPROV_TEST_TMP"), name, (long)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Messages on the commands topic now. */
static long
commands_on_topic(void)
{
	struct ku_mark m;
	char err[256];
	long n = 0;

	assert_int_equal(ku_mark(E->dk.bootstrap, E->tcmd, &m, err, sizeof(err)), 0);
	for (int i = 0; i < m.npartitions; i++)
		n += (long)m.end[i];
	return n;
}

static char *
acct_line(const char *id, const char *subject, const char *company, const char *email)
{
	return cmdjson_text(id, "account.create", subject,
			    json_pack("{s:s, s:s, s:i, s:i}", "company_name", company, "email",
				      email, "rooms", 2, "participants", 10));
}

/* ---- usage ---- */

static void
test_usage(void **state)
{
	static const char *const cmds[] = {"send", "import", "status", "replay", "events"};
	struct clirun r;

	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *help[] = {"tmprov", cmds[i], "--help", NULL};
		const char *bad[] = {"tmprov", cmds[i], "--no-such-flag", NULL};
		const char *cfgdoc[] = {"tmprov", cmds[i], "--help-config", NULL};
		char want[64];

		clirun(&r, help, NULL, CLI_MS);
		clirun_expect_status(&r, 0, cmds[i]);
		snprintf(want, sizeof(want), "usage: tmprov %s", cmds[i]);
		clirun_expect_in(&r, r.out, want, cmds[i]);
		clirun_expect_in(&r, r.out, "Exit status", cmds[i]);
		clirun_free(&r);
		clirun(&r, bad, settings(), CLI_MS);
		clirun_expect_status(&r, 2, cmds[i]);
		clirun_expect_in(&r, r.err, "--no-such-flag", cmds[i]);
		clirun_free(&r);
		clirun(&r, cfgdoc, NULL, CLI_MS);
		clirun_expect_status(&r, 0, cmds[i]);
		clirun_expect_in(&r, r.out, "| TMPROV_DATABASE_URL |", cmds[i]);
		clirun_expect_in(&r, r.out, "| TMPROV_KAFKA_BROKERS |", cmds[i]);
		clirun_free(&r);
	}
	{
		const char *none[] = {"tmprov", "send", NULL};
		const char *nosel[] = {"tmprov", "replay", NULL};
		const char *badcfg[] = {"tmprov", "send", "x", NULL};
		const char *const env[] = {"TMPROV_LOG_LEVEL=loud", NULL};

		clirun(&r, none, settings(), CLI_MS);
		clirun_expect_status(&r, 2, "send without a file");
		clirun_free(&r);
		clirun(&r, nosel, settings(), CLI_MS);
		clirun_expect_status(&r, 2, "replay without a selection");
		clirun_expect_in(&r, r.err, "--all", "replay without a selection");
		clirun_free(&r);
		clirun(&r, badcfg, env, CLI_MS);
		clirun_expect_status(&r, 2, "a bad setting");
		clirun_expect_in(&r, r.err, "TMPROV_LOG_LEVEL", "a bad setting");
		clirun_free(&r);
	}
}

/* ---- send ---- */

static void
test_send_wait(void **state)
{
	char *l1 = acct_line("snd-1", "snd-a", "Send A", "a@snd.example");
	char *l2 = acct_line("snd-2", "snd-b", "Send B", "b@snd.example");
	/* Same subject as line 1: the worker refuses a second account (failed). */
	char *l4 = acct_line("snd-3", "snd-a", "Send A again", "a2@snd.example");
	char text[8192];
	const char *argv[] = {"tmprov", "send", "--wait", "--timeout", "40s", NULL, NULL};
	struct clirun r;

	(void)state;
	snprintf(text, sizeof(text),
		 "%s\n%s\n"
		 "{\"specversion\":\"1.0\",\"id\":\"snd-bad\",\"source\":\"t\",\"type\":"
		 "\"account.create\",\"subject\":\"snd-c\",\"data\":{\"company_name\":\"C\","
		 "\"email\":\"nope\",\"rooms\":1,\"participants\":1}}\n"
		 "\n%s\n%s\n",
		 l1, l2, l4, l1);
	argv[5] = scratch("send.jsonl", text);
	clirun(&r, argv, settings(), CLI_MS);
	/* A bad line and a failed command: exit 1; every outcome counted. */
	clirun_expect_status(&r, 1, "send --wait");
	clirun_expect_in(&r, r.out, "sent 3 commands", "send --wait");
	clirun_expect_in(&r, r.out, "outcomes of 3 commands: 2 succeeded, 1 failed, 0 rejected",
			 "send --wait");
	clirun_expect_in(&r, r.out, "line 5: snd-3: account exists", "send --wait");
	clirun_expect_in(&r, r.err, "line 3: invalid: data.email:", "send --wait");
	clirun_expect_in(&r, r.err, "line 6: repeats line 1", "send --wait");
	/* Not a terminal: plain progress lines. */
	clirun_expect_in(&r, r.err, "progress: 3/3 outcomes", "send --wait");
	assert_int_equal(clirun_lines(r.err, "\r"), 0);
	clirun_free(&r);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Send A"), 1);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "C"), 0);
	/* Sending the file again: the ids are known, the outcomes come from the database, TM is
	 * not called again. */
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_in(&r, r.out, "outcomes of 3 commands: 2 succeeded, 1 failed, 0 rejected",
			 "send again");
	clirun_free(&r);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Send A"), 1);
	free(l1);
	free(l2);
	free(l4);
}

/* The message of key subject among msgs (ku_consume's), checked to be there. */
static const json_t *
message_of(const json_t *msgs, const char *subject)
{
	size_t i;
	json_t *m;

	json_array_foreach(msgs, i, m)
	{
		if (json_is_string(json_object_get(m, "key")) &&
		    strcmp(json_string_value(json_object_get(m, "key")), subject) == 0)
			return m;
	}
	fail_msg("no message keyed %s on the commands topic", subject);
	return NULL;
}

static const char *
hdr(const json_t *m, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(m, "headers"), name));

	return v ? v : "(absent)";
}

/* Structured mode says so in its content-type header; --binary sends the same command in
 * binary mode (ce_ headers, data as the value), which the worker processes alike. */
static void
test_send_modes(void **state)
{
	char *l1 = acct_line("mode-s", "mode-s", "Mode Structured", "s@mode.example");
	char *l2 = acct_line("mode-b", "mode-b", "Mode Binary", "b@mode.example");
	const char *argv[] = {"tmprov", "send", "--wait", "--timeout", "40s", NULL, NULL, NULL};
	struct ku_mark since;
	json_t *msgs = NULL;
	const json_t *m;
	struct clirun r;
	char err[256];

	(void)state;
	assert_int_equal(ku_mark(E->dk.bootstrap, E->tcmd, &since, err, sizeof(err)), 0);
	argv[5] = scratch("mode-s.jsonl", l1);
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "send");
	clirun_free(&r);
	argv[5] = "--binary";
	argv[6] = scratch("mode-b.jsonl", l2);
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "send --binary");
	clirun_expect_in(&r, r.out, "outcomes of 1 command: 1 succeeded", "send --binary");
	clirun_free(&r);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Mode Binary"), 1);

	assert_int_equal(ku_consume(E->dk.bootstrap, E->tcmd, &since, 2, 20000, &msgs), 2);
	m = message_of(msgs, "mode-s");
	assert_string_equal(hdr(m, "content-type"), "application/cloudevents+json");
	assert_string_equal(json_string_value(json_object_get(m, "value")), l1);
	m = message_of(msgs, "mode-b");
	assert_string_equal(hdr(m, "ce_specversion"), "1.0");
	assert_string_equal(hdr(m, "ce_id"), "mode-b");
	assert_string_equal(hdr(m, "ce_type"), "account.create");
	assert_string_equal(hdr(m, "ce_subject"), "mode-b");
	/* datacontenttype travels as content-type. */
	assert_string_equal(hdr(m, "content-type"), "application/json");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "json"), "company_name")),
	    "Mode Binary");
	json_decref(msgs);
	free(l1);
	free(l2);
}

static void
test_send_dry_run(void **state)
{
	char *l1 = acct_line("dry-1", "dry-a", "Dry A", "a@dry.example");
	char text[4096];
	const char *argv[] = {"tmprov", "send", "--dry-run", NULL, NULL};
	long before = commands_on_topic();
	struct clirun r;

	(void)state;
	snprintf(text, sizeof(text), "%s\nnot json\n", l1);
	argv[3] = scratch("dry.jsonl", text);
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "send --dry-run");
	clirun_expect_in(&r, r.out, "dry run: 1 command to send, 1 bad line; nothing sent",
			 "send --dry-run");
	clirun_expect_in(&r, r.err, "line 2: not_json", "send --dry-run");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(), before);
	free(l1);
}

/* ---- import ---- */

static const char CSV[] =
    "subject,company_name,email,rooms,participants,user_id,user_email,first_name,last_name,"
    "password\n"
    "imp-a,Import A,ops@imp-a.example,2,25,ann,ann@imp-a.example,Ann,Archer,correct horse 1\n"
    "imp-b,\"Import B, Ltd.\",ops@imp-b.example,1,10,,,,,\n"
    "imp-a,Import A,ops@imp-a.example,2,25,ann,ann@imp-a.example,Ann,Archer,correct horse 1\n"
    "imp-c,Import C,not-an-email,1,10,,,,,\n"
    "imp-d,Import D,ops@imp-d.example,two,10,,,,,\n"
    "imp-a,Import A,ops@imp-a.example,2,25,bob,bob@imp-a.example,Bob,Baker,correct horse 2\n"
    "imp-e,Import E,ops@imp-e.example,3,30,eve,eve@imp-e.example,Eve,\"O\"\"Neil\",horse battery\n";

/* Whether a line of text starts with prefix. */
static bool
line_starts(const char *text, const char *prefix)
{
	for (const char *p = text; p != NULL && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void
expect_import_report(const struct clirun *r)
{
	clirun_expect_in(r, r->err, "line 4: repeats line 2", "import");
	clirun_expect_in(r, r->err, "line 5: email:", "import");
	clirun_expect_in(r, r->err, "line 6: rooms: must be a whole number", "import");
	/* The good rows are not mentioned. */
	assert_false(line_starts(r->err, "line 2:"));
	assert_false(line_starts(r->err, "line 3:"));
	assert_false(line_starts(r->err, "line 7:"));
	assert_false(line_starts(r->err, "line 8:"));
	clirun_expect_in(r, r->out, "7 rows: 4 good, 1 repeated, 2 bad", "import");
}

static void
test_import(void **state)
{
	const char *path = scratch("customers.csv", CSV);
	const char *dry[] = {"tmprov", "import", "--dry-run", path, NULL};
	const char *run[] = {"tmprov", "import", "--wait", path, NULL};
	long before = commands_on_topic(), creates;
	struct clirun r;
	char *v;

	(void)state;
	clirun(&r, dry, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "import --dry-run");
	expect_import_report(&r);
	clirun_expect_in(&r, r.out, "would send 3 account.create, 3 user.upsert",
			 "import --dry-run");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(), before);

	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "import --wait"); /* bad rows */
	expect_import_report(&r);
	clirun_expect_in(&r, r.out, "outcomes of 6 commands: 6 succeeded, 0 failed, 0 rejected",
			 "import --wait");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(), before + 6);
	v = wenv_sql(E,
		     "SELECT string_agg(subject || ':' || company_name, ',' ORDER BY subject) "
		     "FROM accounts WHERE subject LIKE 'imp-%'",
		     NULL);
	assert_string_equal(v, "imp-a:Import A,imp-b:Import B, Ltd.,imp-e:Import E");
	free(v);
	v = wenv_sql(E,
		     "SELECT string_agg(user_id || ':' || last_name, ',' ORDER BY user_id) FROM "
		     "users WHERE subject LIKE 'imp-%'",
		     NULL);
	assert_string_equal(v, "ann:Archer,bob:Baker,eve:O\"Neil");
	free(v);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE id LIKE "
				       "'import:imp-_:account.create:%'",
				       NULL),
			 3);
	creates = wenv_sim_calls(E, "create_account", NULL, NULL);

	/* Again: the same ids, nothing new at TM, the same summary. */
	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_in(&r, r.out, "outcomes of 6 commands: 6 succeeded, 0 failed, 0 rejected",
			 "import again");
	clirun_free(&r);
	assert_int_equal(wenv_sim_calls(E, "create_account", NULL, NULL), creates);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM outbox WHERE command_id LIKE "
				       "'import:imp-%'",
				       NULL),
			 6);
}

static void
test_import_bad_header(void **state)
{
	const char *path =
	    scratch("header.csv", "subject,company,email,rooms\nx,y,z@a.example,1\n");
	const char *argv[] = {"tmprov", "import", path, NULL};
	long before = commands_on_topic();
	struct clirun r;

	(void)state;
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "import with a bad header");
	clirun_expect_in(&r, r.err, "line 1: unknown column \"company\"", "bad header");
	clirun_expect_in(&r, r.err, "line 1: no column participants", "bad header");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(), before);
}

/* ---- events ---- */

static void
test_events(void **state)
{
	const char *lines[] = {"tmprov", "events", "--subject", "snd-a", NULL};
	const char *json[] = {"tmprov", "events", "--json", "--id", "snd-1", NULL};
	const char *follow[] = {"tmprov", "events", "--follow", "--from-end", NULL};
	const char *dlq[] = {"tmprov", "events", "--dlq", NULL};
	const char *rej[] = {"tmprov", "events", "--type", "command.rejected", NULL};
	struct clirun r, f;
	json_t *ev;
	char *bad;

	(void)state;
	clirun(&r, lines, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "events");
	clirun_expect_in(&r, r.out, "account.created    snd-a commandid=snd-1 ", "events");
	clirun_expect_in(&r, r.out, "command.failed     snd-a commandid=snd-3 account exists",
			 "events");
	assert_int_equal(clirun_lines(r.out, "snd-b"), 0);
	clirun_free(&r);
	clirun(&r, json, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "events --json");
	ev = json_loads(r.out, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "commandid")), "snd-1");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "account.created");
	json_decref(ev);
	clirun_free(&r);

	/* Live: started at the end, it prints what arrives, and exits 0 on SIGTERM. A message
	 * the worker rejects (a bad email, sent as is) shows as command.rejected, and a message
	 * that is not JSON goes to the DLQ. */
	clirun_start(&f, follow, settings(), NULL);
	assert_int_equal(clirun_wait_output(&f, 2, "from its end", 20000), 0);
	bad = strdup("{\"specversion\":\"1.0\",\"id\":\"ev-rej\",\"source\":\"t\",\"type\":"
		     "\"account.create\",\"subject\":\"ev-r\",\"data\":{\"company_name\":\"R\","
		     "\"email\":\"nope\",\"rooms\":1,\"participants\":1}}");
	wenv_send_raw(E, "ev-r", bad, strlen(bad), NULL);
	wenv_send_raw(E, "ev-x", "not json at all", 15, NULL);
	wenv_flush(E);
	wenv_outcome(E, "ev-rej", "ev-r", "command.rejected");
	assert_int_equal(clirun_wait_output(&f, 1, "commandid=ev-rej", 20000), 0);
	clirun_stop(&f, 20000);
	clirun_expect_status(&f, 0, "events --follow");
	clirun_expect_in(&f, f.out,
			 "command.rejected   ev-r commandid=ev-rej data.email:", "follow");
	assert_int_equal(clirun_lines(f.out, "snd-1"), 0); /* from the end, not the beginning */
	clirun_free(&f);
	free(bad);

	clirun(&r, rej, settings(), CLI_MS);
	clirun_expect_in(&r, r.out, "commandid=ev-rej", "events --type");
	assert_int_equal(clirun_lines(r.out, "account.created"), 0);
	clirun_free(&r);
	clirun(&r, dlq, settings(), CLI_MS);
	clirun_expect_in(&r, r.out, "dlq not_json origin=", "events --dlq");
	clirun_expect_in(&r, r.out, "key=ev-x", "events --dlq");
	clirun_free(&r);
}

static int teardown_failed;

static int
group_setup(void **state)
{
	char err[1024];

	(void)state;
	if (wenv_setup(&E, "clisend", NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	teardown_failed = wenv_teardown(E) != 0;
	return teardown_failed ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage),	 cmocka_unit_test(test_send_wait),
	    cmocka_unit_test(test_send_dry_run), cmocka_unit_test(test_send_modes),
	    cmocka_unit_test(test_import),	 cmocka_unit_test(test_import_bad_header),
	    cmocka_unit_test(test_events),
	};
	int rc;

	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return rc || teardown_failed ? 1 : 0;
}
