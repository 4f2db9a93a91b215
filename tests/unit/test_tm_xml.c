/* Tests for common/tm_xml: every TurboMeeting answer shape in tests/data/tm/ (NAME.xml, the body
 * byte for byte, and NAME.expect, its expected parse) run one cmocka test each; then the cases
 * that are code rather than data: size cap, deep nesting, field limits, silence on stderr.
 *
 * NAME.expect: '#' comment lines, then key=value lines. result= is ok, failed (a parsed
 * FAILED answer) or a tm_xml_strerror() name; status, reason, company_uid, company_name, email,
 * meeting_id, rooms, participants give the expected fields (absent: empty, or -1 for numbers);
 * values may use \n, \t, \r and \\. For error results only result= and status= are checked. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tm_xml.h"
#include "clock.h"

#define MAX_CASES   256
#define FIELD_COUNT 9
#define MIN_CASES   60 /* the corpus holds more; fewer means files went missing */

static const char *const expect_keys[FIELD_COUNT] = {
    "result", "status",	    "reason", "company_uid",  "company_name",
    "email",  "meeting_id", "rooms",  "participants",
};

struct fixture {
	char name[128];
	char *body;
	size_t len;
	char *expect[FIELD_COUNT]; /* NULL when the key is absent */
};

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (data = malloc((size_t)n + 1)) != NULL) {
		*len = fread(data, 1, (size_t)n, f);
		data[*len] = '\0';
	}
	fclose(f);
	return data;
}

/* Decodes \n, \t, \r and \\ in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*w++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int
parse_expect(struct fixture *fx, char *text)
{
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');
		int k;

		if (line[0] == '#')
			continue;
		if (eq == NULL)
			return -1;
		*eq = '\0';
		for (k = 0; k < FIELD_COUNT; k++) {
			if (strcmp(line, expect_keys[k]) == 0)
				break;
		}
		if (k == FIELD_COUNT)
			return -1;
		unescape(eq + 1);
		fx->expect[k] = strdup(eq + 1);
	}
	return 0;
}

static const char *
data_dir(void)
{
	static char dir[1024];
	const char *src = getenv("TMPROV_TEST_SRC");

	if (src == NULL || !*src)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/tests/data/tm", src);
	return dir;
}

static int
load_fixture(struct fixture *fx, const char *dir, const char *file)
{
	char path[2048];
	char *text;
	size_t len;
	int rc;

	snprintf(fx->name, sizeof(fx->name), "%.*s", (int)(strlen(file) - 4), file);
	snprintf(path, sizeof(path), "%.1024s/%.256s", dir, file);
	fx->body = read_all(path, &fx->len);
	snprintf(path, sizeof(path), "%.1024s/%.128s.expect", dir, fx->name);
	text = read_all(path, &len);
	if (fx->body == NULL || text == NULL) {
		free(text);
		return -1;
	}
	rc = parse_expect(fx, text);
	free(text);
	return rc;
}

static void
expect_str(const struct fixture *fx, int key, const char *got)
{
	const char *want = fx->expect[key] ? fx->expect[key] : "";

	if (strcmp(want, got) != 0)
		fail_msg("%s: %s is \"%s\", expected \"%s\"", fx->name, expect_keys[key], got,
			 want);
}

static void
expect_num(const struct fixture *fx, int key, long got)
{
	long want = fx->expect[key] ? atol(fx->expect[key]) : -1;

	if (want != got)
		fail_msg("%s: %s is %ld, expected %ld", fx->name, expect_keys[key], got, want);
}

static void
test_fixture(void **state)
{
	const struct fixture *fx = *state;
	struct tm_reply r;
	char err[256] = "";
	const char *result;
	int rc;

	rc = tm_xml_parse(fx->body, fx->len, TM_XML_DEFAULT_MAX, &r, err, sizeof(err));
	result = rc < 0 ? tm_xml_strerror(rc) : r.status == TM_STATUS_OK ? "ok" : "failed";
	if (fx->expect[0] == NULL)
		fail_msg("%s.expect has no result=", fx->name);
	if (strcmp(result, fx->expect[0]) != 0)
		fail_msg("%s: result %s (%s), expected %s", fx->name, result, err, fx->expect[0]);
	if (rc < 0) {
		assert_true(err[0] != '\0'); /* every error explains itself */
		if (fx->expect[1] != NULL)
			expect_str(fx, 1, r.status_text);
		return;
	}
	expect_str(fx, 1, r.status_text);
	expect_str(fx, 2, r.reason);
	expect_str(fx, 3, r.company_uid);
	expect_str(fx, 4, r.company_name);
	expect_str(fx, 5, r.email);
	expect_str(fx, 6, r.meeting_id);
	expect_num(fx, 7, r.rooms);
	expect_num(fx, 8, r.participants);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists NAME.xml files of dir, sorted, into names; returns how many. */
static size_t
list_fixtures(const char *dir, char **names, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, len;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".xml") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	return n;
}

/* ---- cases that are code, not data ---- */

static const char OK_ANSWER[] =
    "<__Return__><__Status__>SUCCEED</__Status__><__CompanyUid__>c-1</__CompanyUid__>"
    "</__Return__>";

static void
test_fixture_dir_present(void **state)
{
	char *names[MAX_CASES];
	const char *dir = data_dir();
	size_t n;

	(void)state;
	if (dir == NULL)
		fail_msg("TMPROV_TEST_SRC is not set: cannot find tests/data/tm");
	n = list_fixtures(dir, names, MAX_CASES);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (n < MIN_CASES)
		fail_msg("%s holds %zu answers, expected at least %d", dir, n, MIN_CASES);
}

/* 10 MiB is refused by the cap before libxml2 sees a byte: the body starts with a DOCTYPE, yet
 * the error is "too large", and it comes back at once. */
static void
test_cap_checked_before_parsing(void **state)
{
	size_t len = 10u * 1024 * 1024;
	char *body = malloc(len), err[256];
	const char head[] = "<!DOCTYPE x [<!ENTITY a \"b\">]><__Return__>";
	struct tm_reply r;
	double t0;
	int rc;

	(void)state;
	assert_non_null(body);
	memset(body, ' ', len);
	memcpy(body, head, sizeof(head) - 1);
	t0 = clock_now_ms_f();
	rc = tm_xml_parse(body, len, TM_XML_DEFAULT_MAX, &r, err, sizeof(err));
	assert_int_equal(rc, TM_XML_ETOOLARGE);
	assert_non_null(strstr(err, "cap"));
	assert_true(clock_now_ms_f() - t0 < 50.0);
	free(body);
}

static void
test_cap_boundary(void **state)
{
	size_t len = strlen(OK_ANSWER);
	struct tm_reply r;
	char err[256];

	(void)state;
	assert_int_equal(tm_xml_parse(OK_ANSWER, len, len, &r, err, sizeof(err)), 0);
	assert_string_equal(r.company_uid, "c-1");
	assert_int_equal(tm_xml_parse(OK_ANSWER, len, len - 1, &r, err, sizeof(err)),
			 TM_XML_ETOOLARGE);
}

/* The body need not be NUL-terminated: bytes after len are never read. */
static void
test_length_bounds_the_body(void **state)
{
	char body[sizeof(OK_ANSWER) + 16];
	struct tm_reply r;
	char err[256];

	(void)state;
	memcpy(body, OK_ANSWER, strlen(OK_ANSWER));
	memcpy(body + strlen(OK_ANSWER), "<!DOCTYPE junk>", 15);
	assert_int_equal(
	    tm_xml_parse(body, strlen(OK_ANSWER), TM_XML_DEFAULT_MAX, &r, err, sizeof(err)), 0);
	assert_int_equal(
	    tm_xml_parse(body, strlen(OK_ANSWER) + 15, TM_XML_DEFAULT_MAX, &r, err, sizeof(err)),
	    TM_XML_EDOCTYPE);
}

static char *
nested(int depth, const char *inner)
{
	size_t len = (size_t)depth * 7 + strlen(inner) + 128;
	char *s = malloc(len), *p = s;

	assert_non_null(s);
	p += sprintf(p, "<__Return__><__Status__>SUCCEED</__Status__>");
	for (int i = 0; i < depth; i++)
		p += sprintf(p, "<a>");
	p += sprintf(p, "%s", inner);
	for (int i = 0; i < depth; i++)
		p += sprintf(p, "</a>");
	sprintf(p, "</__Return__>");
	return s;
}

/* libxml2's own depth limit (which XML_PARSE_HUGE would lift) refuses absurd nesting; modest
 * nesting inside an unknown element is simply ignored. */
static void
test_deep_nesting(void **state)
{
	struct tm_reply r;
	char err[256], *body;

	(void)state;
	body = nested(20000, "x");
	assert_int_equal(tm_xml_parse(body, strlen(body), 1024 * 1024, &r, err, sizeof(err)),
			 TM_XML_ENOTXML);
	free(body);
	body = nested(100, "<__CompanyUid__>deep</__CompanyUid__>");
	assert_int_equal(tm_xml_parse(body, strlen(body), TM_XML_DEFAULT_MAX, &r, err, sizeof(err)),
			 0);
	assert_string_equal(r.company_uid, ""); /* only children of __Return__ count */
	free(body);
}

struct limit {
	const char *tag;
	size_t max;
	size_t offset;
};

/* Each text field at its limit is kept whole, one byte more is an error (a reason is cut
 * instead: reason_1025). */
static void
test_field_limits(void **state)
{
	static const struct limit limits[] = {
	    {"__CompanyUid__", TM_COMPANY_UID_MAX, offsetof(struct tm_reply, company_uid)},
	    {"__CompanyName__", TM_COMPANY_NAME_MAX, offsetof(struct tm_reply, company_name)},
	    {"__Email__", TM_EMAIL_MAX, offsetof(struct tm_reply, email)},
	    {"__MeetingID__", TM_MEETING_ID_MAX, offsetof(struct tm_reply, meeting_id)},
	};
	char body[4096], value[2048], err[256];
	struct tm_reply r;

	(void)state;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		for (size_t extra = 0; extra <= 1; extra++) {
			size_t n = limits[i].max + extra;
			int rc;

			memset(value, 'v', n);
			value[n] = '\0';
			snprintf(body, sizeof(body),
				 "<__Return__><__Status__>SUCCEED</__Status__><%s>  %s\n</%s>"
				 "</__Return__>",
				 limits[i].tag, value, limits[i].tag);
			rc = tm_xml_parse(body, strlen(body), TM_XML_DEFAULT_MAX, &r, err,
					  sizeof(err));
			if (extra == 0) {
				assert_int_equal(rc, 0);
				assert_string_equal((char *)&r + limits[i].offset, value);
			} else {
				assert_int_equal(rc, TM_XML_EFIELD);
				assert_non_null(strstr(err, limits[i].tag));
			}
		}
	}
}

/* libxml2 must not print its complaints: stderr is our JSON log. */
static void
test_no_stderr_noise(void **state)
{
	static const char *const bad[] = {
	    "<__Return__><__Status__>SUCCEED</__Status__>",
	    "<__Return__>&nope;</__Return__>",
	    "<__Return__><__Reason__>caf\xe9</__Reason__></__Return__>",
	    "<a><b></a>",
	};
	char path[] = "/tmp/test_tm_xml_stderr_XXXXXX", err[256];
	int fd = mkstemp(path), saved = dup(2);
	struct tm_reply r;
	off_t size;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    tm_xml_parse(bad[i], strlen(bad[i]), TM_XML_DEFAULT_MAX, &r, err, sizeof(err)),
		    TM_XML_ENOTXML);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size = lseek(fd, 0, SEEK_END);
	close(fd);
	unlink(path);
	assert_int_equal(size, 0);
}

#define THREADS	      4
#define THREAD_PARSES 2000

static void *
parse_many(void *arg)
{
	static const char failed[] = "<__Return__><__Status__>FAILED</__Status__>"
				     "<__Reason__>busy</__Reason__></__Return__>";
	static const char bad[] = "<__Return__><__Status__>SUCCEED</__Status";
	long id = (long)(intptr_t)arg, wrong = 0;
	struct tm_reply r;
	char err[256];

	for (int i = 0; i < THREAD_PARSES; i++) {
		switch ((i + id) % 3) {
		case 0:
			wrong += tm_xml_parse(OK_ANSWER, strlen(OK_ANSWER), TM_XML_DEFAULT_MAX, &r,
					      err, sizeof(err)) != 0 ||
				 strcmp(r.company_uid, "c-1") != 0;
			break;
		case 1:
			wrong += tm_xml_parse(failed, strlen(failed), TM_XML_DEFAULT_MAX, &r, err,
					      sizeof(err)) != 0 ||
				 strcmp(r.reason, "busy") != 0;
			break;
		default:
			wrong += tm_xml_parse(bad, strlen(bad), TM_XML_DEFAULT_MAX, &r, err,
					      sizeof(err)) != TM_XML_ENOTXML;
		}
	}
	return (void *)(intptr_t)wrong;
}

/* Workers parse in many threads at once, each with its own client. */
static void
test_parse_in_threads(void **state)
{
	pthread_t t[THREADS];
	void *wrong;

	(void)state;
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parse_many, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &wrong), 0);
		assert_int_equal((intptr_t)wrong, 0);
	}
}

static void
test_error_names(void **state)
{
	(void)state;
	assert_string_equal(tm_xml_strerror(0), "ok");
	assert_string_equal(tm_xml_strerror(TM_XML_ETOOLARGE), "too_large");
	assert_string_equal(tm_xml_strerror(TM_XML_EDOCTYPE), "doctype");
	assert_string_equal(tm_xml_strerror(TM_XML_ENOTXML), "not_xml");
	assert_string_equal(tm_xml_strerror(TM_XML_EROOT), "root");
	assert_string_equal(tm_xml_strerror(TM_XML_ESTATUS), "status");
	assert_string_equal(tm_xml_strerror(TM_XML_EFIELD), "field");
	assert_string_equal(tm_xml_strerror(-99), "unknown");
}

static const struct CMUnitTest code_tests[] = {
    cmocka_unit_test(test_fixture_dir_present), cmocka_unit_test(test_cap_checked_before_parsing),
    cmocka_unit_test(test_cap_boundary),	cmocka_unit_test(test_length_bounds_the_body),
    cmocka_unit_test(test_deep_nesting),	cmocka_unit_test(test_field_limits),
    cmocka_unit_test(test_no_stderr_noise),	cmocka_unit_test(test_parse_in_threads),
    cmocka_unit_test(test_error_names),
};

int
main(void)
{
	enum { NCODE = sizeof(code_tests) / sizeof(code_tests[0]) };
	static struct CMUnitTest tests[NCODE + MAX_CASES];
	static struct fixture fixtures[MAX_CASES];
	char *names[MAX_CASES];
	const char *dir = data_dir();
	size_t n = 0, count = NCODE;

	memcpy(tests, code_tests, sizeof(code_tests));
	if (dir != NULL)
		n = list_fixtures(dir, names, MAX_CASES);
	for (size_t i = 0; i < n; i++) {
		if (load_fixture(&fixtures[i], dir, names[i]) < 0) {
			fprintf(
			    stderr,
			    "test_tm_xml: cannot read %s/%s or its .expect (or a bad line in it)\n",
			    dir, names[i]);
			return 1;
		}
		tests[count].name = fixtures[i].name;
		tests[count].test_func = test_fixture;
		tests[count].initial_state = &fixtures[i];
		count++;
		free(names[i]);
	}
	return _cmocka_run_group_tests("tm_xml", tests, count, NULL, NULL);
}
