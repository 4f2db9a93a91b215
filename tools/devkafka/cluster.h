/* cluster: the in-memory Kafka cluster of tmprov-devkafka (librdkafka's mock cluster): creates
 * it with its topics, checks it answers metadata like a real broker, and publishes its address. */
#ifndef TMPROV_DEVKAFKA_CLUSTER_H
#define TMPROV_DEVKAFKA_CLUSTER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct cluster;

/* Starts nbrokers brokers on free loopback ports and creates every topic with npartitions
 * partitions, then waits (up to 10 s) until a client sees them all in the metadata. debug: log
 * the mock brokers' protocol traffic. Returns NULL with err on failure. */
struct cluster *cluster_new(int nbrokers, int npartitions, const char *const *topics,
			    size_t ntopics, int debug, char *err, size_t errlen);

/* "127.0.0.1:port[,...]"; owned by c. */
const char *cluster_bootstraps(const struct cluster *c);

/* The mock cluster itself, for its fault API (mockfault.h); owned by c. */
rd_kafka_mock_cluster_t *cluster_mock(const struct cluster *c);

/* Stops the brokers (clients see their connections close). NULL is a no-op. */
void cluster_free(struct cluster *c);

/* Writes text and a newline to path atomically (a temporary file beside it, then rename), so a
 * reader polling for the file never sees it half written. Returns 0 or -1 with err. */
int cluster_write_file(const char *path, const char *text, char *err, size_t errlen);

#endif
