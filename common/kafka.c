/* kafka: librdkafka handles built from the TMPROV_KAFKA_* settings, logging routed to common/log,
 * produce/flush with delivery results, fatal-error checks and header lookup. */
#include "kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "log.h"

CFG_KEY(TMPROV_KAFKA_PROPS, CFG_STRING, NULL, CFG_SECRET, 0, 0, NULL,
	"extra librdkafka properties, k=v,k=v (\\, escapes a comma in a value); they win over "
	"TMPROV_KAFKA_PROPS_FILE's",
	.check = kafka_props_check);
CFG_KEY(TMPROV_KAFKA_PROPS_FILE, CFG_STRING, NULL, 0, 0, 0, NULL,
	"File of extra librdkafka properties, one key=value a line, # comments (kcat -F style), "
	"e.g. sasl.password kept out of the environment; TMPROV_KAFKA_PROPS wins over it. "
	"client.id defaults to the program's name and host, e.g. tmprov-worker@host.",
	.check = kafka_props_file_check);

const struct cfg_key *const KAFKA_CONFIG_KEYS[] = {
    &KEY_TMPROV_TOPIC_COMMANDS,	  &KEY_TMPROV_TOPIC_EVENTS, &KEY_TMPROV_TOPIC_DLQ,
    &KEY_TMPROV_KAFKA_BROKERS,	  &KEY_TMPROV_KAFKA_GROUP,  &KEY_TMPROV_KAFKA_PROPS,
    &KEY_TMPROV_KAFKA_PROPS_FILE,
};
const size_t KAFKA_CONFIG_NKEYS = CFG_KEYS_LEN(KAFKA_CONFIG_KEYS);

/* A property set by us; when fixed, TMPROV_KAFKA_PROPS may not name it (nor its alias). */
struct kafka_prop {
	const char *name, *alias, *value;
	bool fixed;
};

static const struct kafka_prop producer_props[] = {
    {"enable.idempotence", NULL, "true", true},
    {"acks", "request.required.acks", "all", true},
    /* Batches the few events of one outbox pass without a noticeable delay. */
    {"linger.ms", "queue.buffering.max.ms", "5", false},
};

static const struct kafka_prop consumer_props[] = {
    {"enable.auto.commit", "auto.commit.enable", "false", true},
    {"enable.auto.offset.store", NULL, "false", true},
    {"auto.offset.reset", NULL, "earliest", false},
    /* Not cooperative-sticky: librdkafka 2.0.2 then closes without sending LeaveGroup, so a
     * stopped worker's partitions wait a whole session timeout for a new owner. */
    {"partition.assignment.strategy", NULL, "range", false},
};

static void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
	if (level <= 3)
		log_error("rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
	else if (level == 4)
		log_warn("rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
	else if (level <= 6)
		log_info("rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
	else
		log_debug("rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char fatal[512];

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		/* librdkafka keeps the underlying error; kafka_fatal() reads the same state. */
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		log_error("kafka %s: fatal error: %s", rd_kafka_name(rk), fatal);
		return;
	}
	log_warn("kafka %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static void
kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_delivery *d = m->_private;

	(void)rk;
	(void)opaque;
	if (d) {
		d->err = m->err;
		d->partition = m->partition;
		d->offset = m->offset;
		d->done = 1;
	} else if (m->err) {
		log_error("kafka delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
			  rd_kafka_err2str(m->err));
	}
}

void
kafka_conf_route_logs(rd_kafka_conf_t *conf)
{
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
}

/* Copies src into dst, replacing each occurrence of secret with "<value>", so that librdkafka's
 * message about a bad value never echoes the value (it may be a password). */
static void
redact(char *dst, size_t dstlen, const char *src, const char *secret)
{
	size_t n = 0, slen = strlen(secret);

	while (*src && n + 1 < dstlen) {
		if (slen && strncmp(src, secret, slen) == 0) {
			n += (size_t)snprintf(dst + n, dstlen - n, "<value>");
			src += slen;
			if (n >= dstlen)
				n = dstlen - 1;
		} else {
			dst[n++] = *src++;
		}
	}
	dst[n] = '\0';
}

static int
prop_is_fixed(const struct kafka_prop *fixed, size_t nfixed, const char *key)
{
	for (size_t i = 0; i < nfixed; i++) {
		if (!fixed[i].fixed)
			continue;
		if (strcmp(key, fixed[i].name) == 0 ||
		    (fixed[i].alias && strcmp(key, fixed[i].alias) == 0))
			return (int)i;
	}
	return -1;
}

/* Trims spaces and tabs at both ends of s in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Cuts the next entry off *p at the first unescaped comma, unescaping "\," and "\\" in place.
 * Returns the entry, or NULL at the end. */
static char *
next_entry(char **p)
{
	char *start = *p, *r = *p, *w = *p;

	if (!*start)
		return NULL;
	while (*r && *r != ',') {
		if (*r == '\\' && (r[1] == ',' || r[1] == '\\'))
			r++;
		*w++ = *r++;
	}
	*p = *r ? r + 1 : r;
	*w = '\0';
	return start;
}

/* Applies one "key=value" entry; where ("TMPROV_KAFKA_PROPS entry 2", "TMPROV_KAFKA_PROPS_FILE
 * f:3") starts the messages, which never hold the value. */
static int
apply_entry(rd_kafka_conf_t *conf, char *entry, const char *where, const struct kafka_prop *fixed,
	    size_t nfixed, char *err, size_t errlen)
{
	char rkerr[512], clean[512];
	char *eq = strchr(entry, '='), *key, *value;
	int f;

	if (!eq) {
		snprintf(err, errlen, "%s has no '=' (expected key=value)", where);
		return -1;
	}
	*eq = '\0';
	key = trim(entry);
	value = trim(eq + 1);
	if (!*key) {
		snprintf(err, errlen, "%s has an empty property name", where);
		return -1;
	}
	f = prop_is_fixed(fixed, nfixed, key);
	if (f >= 0) {
		snprintf(err, errlen, "%s: property \"%s\" cannot be set: tmprov requires %s=%s",
			 where, key, fixed[f].name, fixed[f].value);
		return -1;
	}
	if (rd_kafka_conf_set(conf, key, value, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		redact(clean, sizeof(clean), rkerr, value);
		snprintf(err, errlen, "%s: property \"%s\": %s", where, key, clean);
		return -1;
	}
	return 0;
}

static int
apply_props(rd_kafka_conf_t *conf, const char *props, const struct kafka_prop *fixed, size_t nfixed,
	    char *err, size_t errlen)
{
	char *copy, *p, *entry;
	int idx = 0, rc = 0;

	if (!props)
		return 0;
	copy = strdup(props);
	if (!copy) {
		snprintf(err, errlen, "TMPROV_KAFKA_PROPS: out of memory");
		return -1;
	}
	p = copy;
	while ((entry = next_entry(&p)) != NULL) {
		char where[64];

		idx++;
		if (!*trim(entry))
			continue; /* "a=1,,b=2" or a trailing comma */
		snprintf(where, sizeof(where), "TMPROV_KAFKA_PROPS: entry %d", idx);
		rc = apply_entry(conf, entry, where, fixed, nfixed, err, errlen);
		if (rc)
			break;
	}
	/* The copy may hold a password: wipe it before freeing. */
	memset(copy, 0, strlen(props));
	free(copy);
	return rc;
}

/* Applies TMPROV_KAFKA_PROPS_FILE: key=value lines, '#' comments, blank lines (kcat -F). */
static int
apply_props_file(rd_kafka_conf_t *conf, const char *path, const struct kafka_prop *fixed,
		 size_t nfixed, char *err, size_t errlen)
{
	char line[4096], where[600];
	FILE *f;
	int lineno = 0, rc = 0;

	if (!path || !*path)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "TMPROV_KAFKA_PROPS_FILE: cannot read %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s;

		snprintf(where, sizeof(where), "TMPROV_KAFKA_PROPS_FILE %s:%d", path, ++lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s: line too long", where);
			rc = -1;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		s = trim(line);
		if (*s != '\0' && *s != '#')
			rc = apply_entry(conf, s, where, fixed, nfixed, err, errlen);
	}
	/* The lines may hold a password. */
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return rc;
}

/* Both handles' fixed properties: a check rejects what either would. */
static int
props_check(const char *value, bool file, char *err, size_t errlen)
{
	static const struct {
		const struct kafka_prop *p;
		size_t n;
	} kinds[] = {{producer_props, CFG_KEYS_LEN(producer_props)},
		     {consumer_props, CFG_KEYS_LEN(consumer_props)}};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < CFG_KEYS_LEN(kinds); i++) {
		rd_kafka_conf_t *conf = rd_kafka_conf_new();

		rc = file ? apply_props_file(conf, value, kinds[i].p, kinds[i].n, err, errlen)
			  : apply_props(conf, value, kinds[i].p, kinds[i].n, err, errlen);
		rd_kafka_conf_destroy(conf);
	}
	return rc;
}

int
kafka_props_check(const char *value, char *err, size_t errlen)
{
	return props_check(value, false, err, errlen);
}

int
kafka_props_file_check(const char *path, char *err, size_t errlen)
{
	return props_check(path, true, err, errlen);
}

/* client.id: the program's name and host ("tmprov-worker@db1"), so that a broker's logs and
 * quotas tell the clients apart; the properties may set another. */
static int
set_client_id(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	char host[256] = "", id[320], rkerr[256];

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "unknown");
	snprintf(id, sizeof(id), "%s@%s", program_invocation_short_name, host);
	if (rd_kafka_conf_set(conf, "client.id", id, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "kafka: client.id=%s: %s", id, rkerr);
		return -1;
	}
	return 0;
}

static int
set_props(rd_kafka_conf_t *conf, const struct kafka_prop *props, size_t n, bool fixed, char *err,
	  size_t errlen)
{
	char rkerr[512];

	for (size_t i = 0; i < n; i++) {
		if (props[i].fixed != fixed)
			continue;
		if (rd_kafka_conf_set(conf, props[i].name, props[i].value, rkerr, sizeof(rkerr)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "kafka: %s=%s: %s", props[i].name, props[i].value,
				 rkerr);
			return -1;
		}
	}
	return 0;
}

/* Brokers, then our defaults, then TMPROV_KAFKA_PROPS_FILE, then TMPROV_KAFKA_PROPS (which
 * wins), then our fixed settings. */
static rd_kafka_conf_t *
conf_build(const struct cfg *c, const struct kafka_prop *props, size_t n, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char rkerr[512];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg_str(c, &KEY_TMPROV_KAFKA_BROKERS),
			      rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "TMPROV_KAFKA_BROKERS: %s", rkerr);
		goto fail;
	}
	if (set_client_id(conf, err, errlen) || set_props(conf, props, n, false, err, errlen) ||
	    apply_props_file(conf, cfg_str(c, &KEY_TMPROV_KAFKA_PROPS_FILE), props, n, err,
			     errlen) ||
	    apply_props(conf, cfg_str(c, &KEY_TMPROV_KAFKA_PROPS), props, n, err, errlen) ||
	    set_props(conf, props, n, true, err, errlen))
		goto fail;
	kafka_conf_route_logs(conf);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_conf_t *
kafka_conf_new(const struct cfg *c, char *err, size_t errlen)
{
	return conf_build(c, NULL, 0, err, errlen);
}

/* Creates the handle; rd_kafka_new() takes conf on success only. */
static rd_kafka_t *
handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	char rkerr[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, rkerr, sizeof(rkerr));

	if (!rk) {
		snprintf(err, errlen, "kafka: cannot create %s: %s",
			 type == RD_KAFKA_PRODUCER ? "producer" : "consumer", rkerr);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	/* rd_kafka_name() is "client.id#producer-1". */
	log_info("kafka: %s created, client.id %.*s", rd_kafka_name(rk),
		 (int)strcspn(rd_kafka_name(rk), "#"), rd_kafka_name(rk));
	return rk;
}

rd_kafka_t *
kafka_producer_new(const struct cfg *c, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf =
	    conf_build(c, producer_props, CFG_KEYS_LEN(producer_props), err, errlen);

	if (!conf)
		return NULL;
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
	return handle_new(RD_KAFKA_PRODUCER, conf, err, errlen);
}

rd_kafka_t *
kafka_consumer_new(const struct cfg *c, const char *group, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf =
	    conf_build(c, consumer_props, CFG_KEYS_LEN(consumer_props), err, errlen);
	rd_kafka_t *rk;
	char rkerr[512];

	if (!conf)
		return NULL;
	if (!group)
		group = cfg_str(c, &KEY_TMPROV_KAFKA_GROUP);
	if (rd_kafka_conf_set(conf, "group.id", group, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "TMPROV_KAFKA_GROUP: %s", rkerr);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = handle_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (rk)
		rd_kafka_poll_set_consumer(rk);
	return rk;
}

rd_kafka_resp_err_t
kafka_produce_err(rd_kafka_t *p, const char *topic, const void *key, size_t keylen, const void *val,
		  size_t vallen, rd_kafka_headers_t *hdrs, void *opaque, char *err, size_t errlen)
{
	rd_kafka_resp_err_t rc;

	/* A full local queue drains as the broker acknowledges; 50 x 100 ms bounds the wait. */
	for (int tries = 0;; tries++) {
		rc = rd_kafka_producev(
		    p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
		    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
		if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 50)
			break;
		rd_kafka_poll(p, 100);
	}
	if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
		return rc; /* librdkafka owns hdrs now */
	rd_kafka_headers_destroy(hdrs);
	if (rc == RD_KAFKA_RESP_ERR__FATAL && kafka_fatal(p)) {
		char fatal[512];
		rd_kafka_fatal_error(p, fatal, sizeof(fatal));
		snprintf(err, errlen, "kafka: produce to %s: fatal error: %s", topic, fatal);
	} else {
		snprintf(err, errlen, "kafka: produce to %s: %s", topic, rd_kafka_err2str(rc));
	}
	return rc;
}

int
kafka_produce(rd_kafka_t *p, const char *topic, const void *key, size_t keylen, const void *val,
	      size_t vallen, rd_kafka_headers_t *hdrs, void *opaque, char *err, size_t errlen)
{
	return kafka_produce_err(p, topic, key, keylen, val, vallen, hdrs, opaque, err, errlen) ==
		       RD_KAFKA_RESP_ERR_NO_ERROR
		   ? 0
		   : -1;
}

int
kafka_flush(rd_kafka_t *p, int timeout_ms, char *err, size_t errlen)
{
	char fatal[512];

	rd_kafka_flush(p, timeout_ms);
	if (rd_kafka_fatal_error(p, fatal, sizeof(fatal))) {
		snprintf(err, errlen, "kafka: fatal error: %s", fatal);
		return -1;
	}
	if (rd_kafka_outq_len(p) > 0) {
		snprintf(err, errlen, "kafka: %d message(s) still undelivered after %d ms",
			 rd_kafka_outq_len(p), timeout_ms);
		return -1;
	}
	return 0;
}

bool
kafka_fatal(rd_kafka_t *rk)
{
	return rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

const char *
kafka_header(const rd_kafka_message_t *m, const char *name, size_t *len)
{
	rd_kafka_headers_t *hdrs;
	const void *val;
	size_t size;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !val)
		return NULL;
	if (len)
		*len = size;
	return val;
}
