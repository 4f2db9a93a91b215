/* Tests for common/netaddr: listen-address parsing and CIDR allow-list matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "netaddr.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		int rc, family, port;
	} cases[] = {
	    {"127.0.0.1:8090", 0, AF_INET, 8090},
	    {"0.0.0.0:0", 0, AF_INET, 0},
	    {"localhost:9464", 0, AF_INET, 9464},
	    {"[::1]:80", 0, AF_INET6, 80},
	    {"[::]:65535", 0, AF_INET6, 65535},
	    {"8090", -1, 0, 0},
	    {":8090", -1, 0, 0},
	    {"127.0.0.1:", -1, 0, 0},
	    {"127.0.0.1:65536", -1, 0, 0},
	    {"example.com:80", -1, 0, 0},
	    {"::1:80", -1, 0, 0},
	    {"127.0.0.1:80x", -1, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		char err[128] = "";
		int rc = netaddr_parse(cases[i].in, &ss, &len, err, sizeof(err));

		assert_int_equal(rc, cases[i].rc);
		if (rc != 0) {
			assert_non_null(strstr(err, cases[i].in));
			continue;
		}
		assert_int_equal(ss.ss_family, cases[i].family);
		if (cases[i].family == AF_INET)
			assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port),
					 cases[i].port);
		else
			assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port),
					 cases[i].port);
	}
}

static int
match(const struct netaddr_allow *a, const char *ip)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		return netaddr_allow_match(a, (struct sockaddr *)&s4);
	assert_int_equal(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
	return netaddr_allow_match(a, (struct sockaddr *)&s6);
}

static void
test_allow(void **state)
{
	struct netaddr_allow a;
	char err[128];

	(void)state;
	assert_int_equal(netaddr_allow_parse("127.0.0.1/32, ::1/128,10.20.0.0/14,192.168.1.7,"
					     "2001:db8::/33",
					     &a, err, sizeof(err)),
			 0);
	assert_int_equal(a.n, 5);
	assert_true(match(&a, "127.0.0.1"));
	assert_false(match(&a, "127.0.0.2"));
	assert_true(match(&a, "::1"));
	assert_false(match(&a, "::2"));
	assert_true(match(&a, "10.20.0.1"));
	assert_true(match(&a, "10.23.255.255"));
	assert_false(match(&a, "10.24.0.0"));
	assert_true(match(&a, "192.168.1.7"));
	assert_false(match(&a, "192.168.1.8"));
	assert_true(match(&a, "::ffff:127.0.0.1")); /* v4-mapped peer on a v6 socket */
	assert_true(match(&a, "2001:db8:7fff::1"));
	assert_false(match(&a, "2001:db8:8000::1"));
	assert_false(netaddr_allow_match(&a, NULL));
}

static void
test_allow_errors(void **state)
{
	static const char *const bad[] = {"10.0.0.0/33", "::/129",   "10.0.0/8",
					  "x",		 "1.2.3.4/", "1.2.3.4/-1"};
	struct netaddr_allow a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[128] = "";
		assert_int_equal(netaddr_allow_parse(bad[i], &a, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i]));
	}
	assert_int_equal(netaddr_allow_parse("0.0.0.0/0", &a, NULL, 0), 0);
	assert_true(match(&a, "203.0.113.9"));
	assert_false(match(&a, "::1")); /* a v4 range does not admit v6 peers */
}

static void
test_port_file(void **state)
{
	char path[] = "/tmp/test_netaddr_port_XXXXXX", buf[32] = "", err[256] = "";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(netaddr_port_file_write(path, 43210, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "43210\n");
	unlink(path);
	assert_int_equal(netaddr_port_file_write("/nonexistent/dir/port", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/port"));
}

/* X-Forwarded-For: the right-most address that is not a trusted proxy is the client; the
 * addresses left of it are the client's own words and never read. */
static void
test_forwarded_client(void **state)
{
	static const struct {
		const char *list;
		int rc;
		const char *client;
	} cases[] = {
	    {"192.0.2.1", 1, "192.0.2.1"},
	    {" 192.0.2.1 ", 1, "192.0.2.1"},
	    {"198.51.100.7, 192.0.2.1", 1, "192.0.2.1"},
	    {"192.0.2.1, 10.1.2.3", 1, "192.0.2.1"},	     /* a trusted hop is skipped */
	    {"192.0.2.1,10.1.2.3,10.9.9.9", 1, "192.0.2.1"}, /* and several */
	    {"10.1.2.3, 10.9.9.9", 1, "10.1.2.3"},	     /* all trusted: the left-most */
	    {"bogus, 192.0.2.1", 1, "192.0.2.1"},	     /* never reached */
	    {"192.0.2.1:4711", 1, "192.0.2.1"},
	    {"2001:db8::5", 1, "2001:db8::5"},
	    {"[2001:db8::5]", 1, "2001:db8::5"},
	    {"[2001:db8::5]:443, 10.1.2.3", 1, "2001:db8::5"},
	    {"", 0, NULL},
	    {"  ", 0, NULL},
	    {"192.0.2.1, bogus", -1, NULL},
	    {"192.0.2.1, ", -1, NULL},
	    {"192.0.2.1,,10.1.2.3", -1, NULL},
	    {"unknown", -1, NULL},
	    {"192.0.2.1:99999", -1, NULL},
	    {"[2001:db8::5", -1, NULL},
	    {"192.0.2.1/32", -1, NULL},
	};
	struct netaddr_allow trusted;
	char err[128];

	(void)state;
	assert_int_equal(netaddr_allow_parse("10.0.0.0/8", &trusted, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		char text[64] = "";
		int rc = netaddr_forwarded_client(&trusted, cases[i].list, &ss);

		print_message("# [%s] -> %d\n", cases[i].list, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc != 1)
			continue;
		netaddr_text((struct sockaddr *)&ss, text, sizeof(text));
		assert_string_equal(text, cases[i].client);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_allow),
	    cmocka_unit_test(test_allow_errors),
	    cmocka_unit_test(test_port_file),
	    cmocka_unit_test(test_forwarded_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
