/* cluster: the in-memory Kafka cluster of tmprov-devkafka (librdkafka's mock cluster): creates
 * it with its topics, checks it answers metadata like a real broker, and publishes its address. */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"
#include "log.h"

#define CLUSTER_READY_MS   10000
#define RD_METADATA_APIKEY 3 /* Kafka protocol ApiKey of Metadata */

struct cluster {
	rd_kafka_t *rk; /* the handle whose threads run the mock brokers */
	rd_kafka_mock_cluster_t *mc;
};

/* A client handle that is only a host for the mock cluster's threads; it connects to nothing
 * itself. Below debug, its log level hides the notice that it has no bootstrap.servers. */
static rd_kafka_t *
host_new(int debug, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char rkerr[512];
	rd_kafka_t *rk;

	kafka_conf_route_logs(conf);
	if (rd_kafka_conf_set(conf, "client.id", "tmprov-devkafka", rkerr, sizeof(rkerr)) ||
	    rd_kafka_conf_set(conf, "log_level", debug ? "7" : "4", rkerr, sizeof(rkerr)) ||
	    (debug && rd_kafka_conf_set(conf, "debug", "mock", rkerr, sizeof(rkerr))))
		goto fail;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
	if (rk)
		return rk;
fail:
	snprintf(err, errlen, "cannot create the cluster's host handle: %s", rkerr);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* 1 when every topic is in md with npartitions partitions, each with a leader. */
static int
metadata_complete(const rd_kafka_metadata_t *md, int npartitions, const char *const *topics,
		  size_t ntopics)
{
	for (size_t i = 0; i < ntopics; i++) {
		int found = 0;
		for (int t = 0; t < md->topic_cnt && !found; t++) {
			const rd_kafka_metadata_topic_t *mt = &md->topics[t];
			if (strcmp(mt->topic, topics[i]) != 0)
				continue;
			if (mt->err || mt->partition_cnt != npartitions)
				return 0;
			for (int p = 0; p < mt->partition_cnt; p++)
				if (mt->partitions[p].leader < 0)
					return 0;
			found = 1;
		}
		if (!found)
			return 0;
	}
	return 1;
}

/* Asks the cluster for its metadata as a client would, over the Kafka protocol. */
static int
cluster_check(const char *bootstraps, int npartitions, const char *const *topics, size_t ntopics,
	      char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
	rd_kafka_t *rk = NULL;
	char rkerr[512];
	int ok = 0;

	kafka_conf_route_logs(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, rkerr, sizeof(rkerr)) !=
		RD_KAFKA_CONF_OK ||
	    !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr)))) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "cannot create the check client: %s", rkerr);
		return -1;
	}
	for (int waited = 0; !ok && waited < CLUSTER_READY_MS; waited += 100) {
		rc = rd_kafka_metadata(rk, 1, NULL, &md, 1000);
		if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
			ok = metadata_complete(md, npartitions, topics, ntopics);
			rd_kafka_metadata_destroy(md);
		}
		if (!ok)
			nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
	rd_kafka_destroy(rk);
	if (!ok)
		snprintf(err, errlen, "the cluster did not show its topics within %d ms (%s)",
			 CLUSTER_READY_MS, rd_kafka_err2str(rc));
	return ok ? 0 : -1;
}

struct cluster *
cluster_new(int nbrokers, int npartitions, const char *const *topics, size_t ntopics, int debug,
	    char *err, size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	rd_kafka_resp_err_t rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->rk = host_new(debug, err, errlen);
	if (!c->rk)
		goto fail;
	c->mc = rd_kafka_mock_cluster_new(c->rk, nbrokers);
	if (!c->mc) {
		snprintf(err, errlen, "cannot create a mock cluster of %d broker(s)", nbrokers);
		goto fail;
	}
	/* The mock's Metadata handler reads v4's AllowAutoTopicCreation but advertises only v2,
	 * so every metadata request for an unknown topic would create it (with 4 partitions).
	 * Advertising v4 makes it honour the client's allow.auto.create.topics, as Kafka does. */
	rc = rd_kafka_mock_set_apiversion(c->mc, RD_METADATA_APIKEY, 0, 4);
	if (rc) {
		snprintf(err, errlen, "cannot set the Metadata API version: %s",
			 rd_kafka_err2str(rc));
		goto fail;
	}
	for (size_t i = 0; i < ntopics; i++) {
		/* Replication factor 1: the mock keeps one log per partition whatever the factor.
		 */
		rc = rd_kafka_mock_topic_create(c->mc, topics[i], npartitions, 1);
		if (rc) {
			snprintf(err, errlen, "cannot create topic %s: %s", topics[i],
				 rd_kafka_err2str(rc));
			goto fail;
		}
	}
	if (cluster_check(cluster_bootstraps(c), npartitions, topics, ntopics, err, errlen))
		goto fail;
	return c;
fail:
	cluster_free(c);
	return NULL;
}

const char *
cluster_bootstraps(const struct cluster *c)
{
	return rd_kafka_mock_cluster_bootstraps(c->mc);
}

rd_kafka_mock_cluster_t *
cluster_mock(const struct cluster *c)
{
	return c->mc;
}

void
cluster_free(struct cluster *c)
{
	if (!c)
		return;
	if (c->mc)
		rd_kafka_mock_cluster_destroy(c->mc);
	if (c->rk)
		rd_kafka_destroy(c->rk);
	free(c);
}

int
cluster_write_file(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[4096];
	int fd, rc = -1;
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "bootstrap file name too long");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (fprintf(f, "%s\n", text) < 0 || fflush(f) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc)
		unlink(tmp);
	return rc;
}
