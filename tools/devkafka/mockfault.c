/* mockfault: the mock cluster's fault API as one-line text commands (see mockfault.h). The mock's
 * functions post their change to the cluster's own thread, so any thread may call them. */
#include "mockfault.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOCKFAULT_MAX_WORDS 64

/* Kafka protocol ApiKeys a test may want to fail. */
static const struct {
	const char *name;
	int16_t key;
} api_keys[] = {
    {"Produce", 0},	 {"Fetch", 1},	     {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8}, {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},	 {"LeaveGroup", 13}, {"SyncGroup", 14},	      {"InitProducerId", 22},
};

enum mockfault_verb {
	MOCKFAULT_ERRORS,
	MOCKFAULT_BROKER_ERRORS,
	MOCKFAULT_CLEAR,
	MOCKFAULT_BROKER_DOWN,
	MOCKFAULT_BROKER_UP,
	MOCKFAULT_RTT,
};

/* Each verb and the fewest words it takes after itself. */
static const struct {
	const char *name;
	enum mockfault_verb verb;
	int min_args;
} verbs[] = {
    {"errors", MOCKFAULT_ERRORS, 2},	   {"broker-errors", MOCKFAULT_BROKER_ERRORS, 3},
    {"clear", MOCKFAULT_CLEAR, 1},	   {"broker-down", MOCKFAULT_BROKER_DOWN, 1},
    {"broker-up", MOCKFAULT_BROKER_UP, 1}, {"rtt", MOCKFAULT_RTT, 2},
};

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_api(const char *s, int16_t *out, char *err, size_t errlen)
{
	long v;

	for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
		if (strcasecmp(s, api_keys[i].name) == 0) {
			*out = api_keys[i].key;
			return 0;
		}
	}
	if (parse_long(s, 0, INT16_MAX, &v) == 0) {
		*out = (int16_t)v;
		return 0;
	}
	snprintf(err, errlen, "unknown API key \"%s\"", s);
	return -1;
}

/* A librdkafka error by its name (rd_kafka_err2name, with or without RD_KAFKA_RESP_ERR_) or
 * its number. */
static int
parse_err(const char *s, rd_kafka_resp_err_t *out, char *err, size_t errlen)
{
	const struct rd_kafka_err_desc *descs;
	size_t n;
	long v;

	if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
		s += 18;
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++) {
		if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
			*out = descs[i].code;
			return 0;
		}
	}
	if (parse_long(s, -200, 1000, &v) == 0) {
		*out = (rd_kafka_resp_err_t)v;
		return 0;
	}
	snprintf(err, errlen, "unknown error \"%s\"", s);
	return -1;
}

static int
parse_broker(const char *s, int32_t *out, char *err, size_t errlen)
{
	long v;

	if (parse_long(s, 0, INT32_MAX, &v) != 0) {
		snprintf(err, errlen, "bad broker id \"%s\"", s);
		return -1;
	}
	*out = (int32_t)v;
	return 0;
}

/* "ERR" or "ERR:RTT_MS". */
static int
parse_err_rtt(char *s, rd_kafka_resp_err_t *e, int *rtt, char *err, size_t errlen)
{
	char *colon = strchr(s, ':');
	long v = 0;

	if (colon) {
		*colon = '\0';
		if (parse_long(colon + 1, 0, 3600000, &v) != 0) {
			snprintf(err, errlen, "bad round-trip time \"%s\"", colon + 1);
			return -1;
		}
	}
	*rtt = (int)v;
	return parse_err(s, e, err, errlen);
}

static int
push_errors(rd_kafka_mock_cluster_t *mc, char **w, int n, char *err, size_t errlen)
{
	rd_kafka_resp_err_t errs[MOCKFAULT_MAX_WORDS];
	int16_t api;

	if (parse_api(w[0], &api, err, errlen) != 0)
		return -1;
	for (int i = 1; i < n; i++)
		if (parse_err(w[i], &errs[i - 1], err, errlen) != 0)
			return -1;
	rd_kafka_mock_push_request_errors_array(mc, api, (size_t)(n - 1), errs);
	return 0;
}

static int
push_broker_errors(rd_kafka_mock_cluster_t *mc, char **w, int n, char *err, size_t errlen)
{
	rd_kafka_resp_err_t e, rc;
	int32_t broker;
	int16_t api;
	int rtt;

	if (parse_broker(w[0], &broker, err, errlen) != 0 ||
	    parse_api(w[1], &api, err, errlen) != 0)
		return -1;
	/* Checked first, so that a bad word pushes nothing. */
	for (int i = 2; i < n; i++) {
		char word[128];

		snprintf(word, sizeof(word), "%s", w[i]);
		if (parse_err_rtt(word, &e, &rtt, err, errlen) != 0)
			return -1;
	}
	for (int i = 2; i < n; i++) {
		parse_err_rtt(w[i], &e, &rtt, err, errlen);
		rc = rd_kafka_mock_broker_push_request_error_rtts(mc, broker, api, 1, e, rtt);
		if (rc) {
			snprintf(err, errlen, "broker %d: %s", (int)broker, rd_kafka_err2str(rc));
			return -1;
		}
	}
	return 0;
}

static int
broker_op(rd_kafka_mock_cluster_t *mc, enum mockfault_verb verb, char **w, char *err, size_t errlen)
{
	rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
	int32_t broker;
	long ms;

	if (parse_broker(w[0], &broker, err, errlen) != 0)
		return -1;
	if (verb == MOCKFAULT_BROKER_DOWN) {
		rc = rd_kafka_mock_broker_set_down(mc, broker);
	} else if (verb == MOCKFAULT_BROKER_UP) {
		rc = rd_kafka_mock_broker_set_up(mc, broker);
	} else {
		if (parse_long(w[1], 0, 3600000, &ms) != 0) {
			snprintf(err, errlen, "bad round-trip time \"%s\"", w[1]);
			return -1;
		}
		rc = rd_kafka_mock_broker_set_rtt(mc, broker, (int)ms);
	}
	if (rc) {
		snprintf(err, errlen, "broker %d: %s", (int)broker, rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

/* Splits s in place at spaces and tabs; returns the number of words, -1 when too many. */
static int
split(char *s, char **w)
{
	int n = 0;

	for (char *tok = strtok(s, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
		if (n == MOCKFAULT_MAX_WORDS)
			return -1;
		w[n++] = tok;
	}
	return n;
}

int
mockfault_apply(rd_kafka_mock_cluster_t *mc, const char *line, char *err, size_t errlen)
{
	char *copy = strdup(line), *w[MOCKFAULT_MAX_WORDS];
	int n, rc = -1;
	int16_t api;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = split(copy, w);
	if (n <= 0) {
		snprintf(err, errlen, n ? "too many words" : "empty command");
		goto out;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(w[0], verbs[i].name) != 0)
			continue;
		if (n - 1 < verbs[i].min_args) {
			snprintf(err, errlen, "%s: too few arguments", w[0]);
			goto out;
		}
		switch (verbs[i].verb) {
		case MOCKFAULT_ERRORS:
			rc = push_errors(mc, w + 1, n - 1, err, errlen);
			break;
		case MOCKFAULT_BROKER_ERRORS:
			rc = push_broker_errors(mc, w + 1, n - 1, err, errlen);
			break;
		case MOCKFAULT_CLEAR:
			rc = parse_api(w[1], &api, err, errlen);
			if (rc == 0)
				rd_kafka_mock_clear_request_errors(mc, api);
			break;
		case MOCKFAULT_BROKER_DOWN:
		case MOCKFAULT_BROKER_UP:
		case MOCKFAULT_RTT:
			rc = broker_op(mc, verbs[i].verb, w + 1, err, errlen);
			break;
		}
		goto out;
	}
	snprintf(err, errlen, "unknown command \"%s\"", w[0]);
out:
	free(copy);
	return rc;
}
