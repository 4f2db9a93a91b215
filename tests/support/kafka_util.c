/* kafka_util: Kafka helpers for tests: start and stop a private tmprov-devkafka, produce a
 * message and wait for it, mark a topic's end, and read what a topic holds as JSON. */
#include "kafka_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "clock.h"

#define KU_MAX_ARGS 32

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* In the child: stdout to /dev/null, stderr to log, dies with the test, then execs. */
static void
child_exec(const char *log, char **argv)
{
	int devnull = open("/dev/null", O_WRONLY),
	    fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (devnull >= 0)
		dup2(devnull, STDOUT_FILENO);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	execv(argv[0], argv);
	_exit(127);
}

/* Reads the first line of path into buf; returns 0 once it holds a full line. */
static int
read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char *nl;

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f) || !(nl = strchr(buf, '\n'))) {
		fclose(f);
		return -1;
	}
	*nl = '\0';
	fclose(f);
	return 0;
}

static int
devkafka_wait(struct ku_devkafka *dk, char *err, size_t errlen)
{
	int status;

	for (long start = clock_now_ms(); clock_now_ms() - start < 20000; sleep_ms(50)) {
		if (read_line(dk->file, dk->bootstrap, sizeof(dk->bootstrap)) == 0)
			return 0;
		if (waitpid(dk->pid, &status, WNOHANG) == dk->pid) {
			snprintf(err, errlen, "tmprov-devkafka exited early (status %d)",
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			dk->pid = 0;
			return -1;
		}
	}
	snprintf(err, errlen, "tmprov-devkafka wrote no bootstrap file %s within 20 s", dk->file);
	ku_devkafka_stop(dk);
	return -1;
}

int
ku_devkafka_start(struct ku_devkafka *dk, const char *const *args, char *err, size_t errlen)
{
	static int seq;
	const char *bin = getenv("TMPROV_TEST_BIN"), *tmp = getenv("TMPROV_TEST_TMP");
	char path[1024];
	char *argv[KU_MAX_ARGS + 4];
	int n = 0;

	memset(dk, 0, sizeof(*dk));
	if (!bin || !tmp) {
		snprintf(err, errlen, "%s is not set", bin ? "TMPROV_TEST_TMP" : "TMPROV_TEST_BIN");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/tmprov-devkafka", bin);
	snprintf(dk->file, sizeof(dk->file), "%s/devkafka-%ld-%d.bootstrap", tmp, (long)getpid(),
		 ++seq);
	snprintf(dk->control, sizeof(dk->control), "%s/devkafka-%ld-%d.ctl", tmp, (long)getpid(),
		 seq);
	snprintf(dk->log, sizeof(dk->log), "%s/devkafka-%ld-%d.log", tmp, (long)getpid(), seq);
	unlink(dk->file);
	argv[n++] = path;
	argv[n++] = "--bootstrap-file";
	argv[n++] = dk->file;
	argv[n++] = "--control";
	argv[n++] = dk->control;
	for (size_t i = 0; args && args[i]; i++) {
		if (i == KU_MAX_ARGS) {
			snprintf(err, errlen, "more than %d devkafka arguments", KU_MAX_ARGS);
			return -1;
		}
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	dk->pid = fork();
	if (dk->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		dk->pid = 0;
		return -1;
	}
	if (dk->pid == 0)
		child_exec(dk->log, argv);
	return devkafka_wait(dk, err, errlen);
}

int
ku_devkafka_stop(struct ku_devkafka *dk)
{
	int status;
	pid_t rc = 0;

	if (dk->pid <= 0)
		return -1;
	kill(dk->pid, SIGTERM);
	for (long start = clock_now_ms(); clock_now_ms() - start < 10000; sleep_ms(20)) {
		rc = waitpid(dk->pid, &status, WNOHANG);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		kill(dk->pid, SIGKILL);
		rc = waitpid(dk->pid, &status, 0);
	}
	dk->pid = 0;
	if (rc < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
ku_devkafka_exited(struct ku_devkafka *dk)
{
	int status;

	if (dk->pid <= 0 || waitpid(dk->pid, &status, WNOHANG) != dk->pid)
		return -1;
	dk->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
ku_devkafka_fault(const struct ku_devkafka *dk, const char *cmd, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char answer[512];
	size_t n = 0;
	ssize_t r;
	int fd, rc = -1;

	if (strlen(dk->control) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", dk->control);
		return -1;
	}
	memcpy(sa.sun_path, dk->control, strlen(dk->control) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "%s: %s", dk->control, strerror(errno));
		goto out;
	}
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) || write(fd, "\n", 1) != 1) {
		snprintf(err, errlen, "%s: write: %s", dk->control, strerror(errno));
		goto out;
	}
	/* devkafka answers one line and closes. */
	while (n + 1 < sizeof(answer) && (r = read(fd, answer + n, sizeof(answer) - 1 - n)) > 0)
		n += (size_t)r;
	answer[n] = '\0';
	answer[strcspn(answer, "\n")] = '\0';
	if (strcmp(answer, "ok") != 0) {
		snprintf(err, errlen, "%s: %s", cmd, n ? answer : "no answer");
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A client of brokers with our log routing and the given extra properties (name, value pairs,
 * NULL-terminated). */
static rd_kafka_t *
client_new(rd_kafka_type_t type, const char *brokers, const char *const *props, char *err,
	   size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	kafka_conf_route_logs(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != RD_KAFKA_CONF_OK)
		goto fail;
	for (size_t i = 0; props && props[i]; i += 2)
		if (rd_kafka_conf_set(conf, props[i], props[i + 1], err, errlen) !=
		    RD_KAFKA_CONF_OK)
			goto fail;
	rk = rd_kafka_new(type, conf, err, errlen);
	if (rk)
		return rk;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static void
ku_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	*(rd_kafka_resp_err_t *)m->_private = m->err;
}

int
ku_produce(const char *brokers, const char *topic, const char *key, const char *value,
	   const char *const *headers, char *err, size_t errlen)
{
	rd_kafka_resp_err_t dr = RD_KAFKA_RESP_ERR__IN_PROGRESS, rc;
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;

	for (size_t i = 0; headers && headers[i]; i += 2)
		rd_kafka_header_add(hdrs, headers[i], -1, headers[i + 1], -1);
	/* client_new() cannot set a callback, so build the conf here. */
	conf = rd_kafka_conf_new();
	kafka_conf_route_logs(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, ku_dr_cb);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
	    !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen))) {
		rd_kafka_conf_destroy(conf);
		rd_kafka_headers_destroy(hdrs);
		return -1;
	}
	rc =
	    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			      RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
			      RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
			      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&dr), RD_KAFKA_V_END);
	if (rc) {
		rd_kafka_headers_destroy(hdrs); /* not taken on failure */
		dr = rc;
	} else {
		rd_kafka_flush(rk, 10000);
	}
	rd_kafka_destroy(rk);
	if (dr)
		snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(dr));
	return dr ? -1 : 0;
}

int64_t
ku_committed(const char *brokers, const char *group, const char *topic, int32_t partition,
	     char *err, size_t errlen)
{
	const char *const props[] = {"group.id", group, "enable.auto.commit", "false", NULL};
	rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, brokers, props, err, errlen);
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t rc;
	int64_t off = -2000;

	if (!rk)
		return -2000;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition);
	rc = rd_kafka_committed(rk, l, 10000);
	if (rc || l->elems[0].err)
		snprintf(err, errlen, "committed offset of %s [%d] for %s: %s", topic,
			 (int)partition, group, rd_kafka_err2str(rc ? rc : l->elems[0].err));
	else
		off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return off;
}

int
ku_partitions(const char *brokers, const char *topic, char *err, size_t errlen)
{
	static const char *const props[] = {"allow.auto.create.topics", "false", NULL};
	rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, brokers, props, err, errlen);
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t rc;
	int n = -1;

	if (!rk)
		return -1;
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	rc = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (rc)
		snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(rc));
	else if (md->topic_cnt != 1 || md->topics[0].err)
		snprintf(err, errlen, "metadata of %s: %s", topic,
			 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
							: RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
	else
		n = md->topics[0].partition_cnt;
	if (!rc)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return n;
}

int
ku_mark(const char *brokers, const char *topic, struct ku_mark *m, char *err, size_t errlen)
{
	int n = ku_partitions(brokers, topic, err, errlen), rc = -1;
	rd_kafka_t *rk;
	int64_t lo, hi;

	if (n < 0)
		return -1;
	if (n > KU_MAX_PARTITIONS) {
		snprintf(err, errlen, "%s has %d partitions, more than %d", topic, n,
			 KU_MAX_PARTITIONS);
		return -1;
	}
	if (!(rk = client_new(RD_KAFKA_CONSUMER, brokers, NULL, err, errlen)))
		return -1;
	m->npartitions = n;
	for (int p = 0; p < n; p++) {
		rd_kafka_resp_err_t e =
		    rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
		if (e) {
			snprintf(err, errlen, "end of %s [%d]: %s", topic, p, rd_kafka_err2str(e));
			goto out;
		}
		m->end[p] = hi;
	}
	rc = 0;
out:
	rd_kafka_destroy(rk);
	return rc;
}

/* A JSON string of the bytes, or null when absent or not UTF-8. */
static json_t *
text_or_null(const void *p, size_t len)
{
	json_t *s = p ? json_stringn(p, len) : NULL;

	return s ? s : json_null();
}

static json_t *
message_json(const rd_kafka_message_t *m)
{
	json_t *o = json_object(), *h = json_object(), *parsed = NULL;
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	size_t size;

	json_object_set_new(o, "partition", json_integer(m->partition));
	json_object_set_new(o, "offset", json_integer(m->offset));
	json_object_set_new(o, "key", text_or_null(m->key, m->key_len));
	json_object_set_new(o, "value", text_or_null(m->payload, m->len));
	if (m->payload)
		parsed = json_loadb(m->payload, m->len, JSON_DECODE_ANY, NULL);
	json_object_set_new(o, "json", parsed ? parsed : json_null());
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
			json_object_set_new(h, name, text_or_null(val, size));
	json_object_set_new(o, "headers", h);
	return o;
}

/* Assigns every partition of topic at since's offsets (or the beginning). */
static int
assign_all(rd_kafka_t *rk, const char *topic, const struct ku_mark *since, int n)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t rc;

	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset =
		    since ? since->end[p] : RD_KAFKA_OFFSET_BEGINNING;
	rc = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	return rc ? -1 : 0;
}

/* Polls until expect messages are in out and every partition is at its end, or the deadline. */
static int
consume_loop(rd_kafka_t *rk, int n, int expect, long deadline, json_t *out)
{
	char at_end[KU_MAX_PARTITIONS] = {0};
	int nend = 0, count = 0;

	while ((count < expect || nend < n) && clock_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			nend += !at_end[m->partition];
			at_end[m->partition] = 1;
		} else if (m->err) {
			log_warn("ku_consume: %s", rd_kafka_message_errstr(m));
		} else {
			nend -= at_end[m->partition];
			at_end[m->partition] = 0;
			json_array_append_new(out, message_json(m));
			count++;
		}
		rd_kafka_message_destroy(m);
	}
	return count;
}

int
ku_consume(const char *brokers, const char *topic, const struct ku_mark *since, int expect,
	   int timeout_ms, json_t **out)
{
	static int seq;
	char group[64];
	/* assign() needs a group.id, but with assign() alone the consumer never joins the group,
	 * and with enable.auto.commit off it commits nothing. */
	const char *const props[] = {
	    "enable.partition.eof", "true", "enable.auto.commit", "false", "group.id", group, NULL};
	long deadline = clock_now_ms() + timeout_ms;
	int n, count = -1;
	rd_kafka_t *rk;
	char err[512];

	*out = NULL;
	snprintf(group, sizeof(group), "ku-consume-%ld-%d", (long)getpid(), ++seq);
	n = since ? since->npartitions : ku_partitions(brokers, topic, err, sizeof(err));
	if (n < 0 || n > KU_MAX_PARTITIONS) {
		log_error("ku_consume: %s", n < 0 ? err : "too many partitions");
		return -1;
	}
	if (!(rk = client_new(RD_KAFKA_CONSUMER, brokers, props, err, sizeof(err)))) {
		log_error("ku_consume: %s", err);
		return -1;
	}
	if (assign_all(rk, topic, since, n) == 0) {
		*out = json_array();
		count = consume_loop(rk, n, expect, deadline, *out);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return count;
}

int
ku_consume_all(const char *brokers, const char *topic, int expect, int timeout_ms, json_t **out)
{
	return ku_consume(brokers, topic, NULL, expect, timeout_ms, out);
}
