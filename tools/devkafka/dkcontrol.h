/* dkcontrol: tmprov-devkafka's fault control for tests — a Unix socket taking one-line commands
 * that drive the mock cluster's fault API (all brokers down and up, request errors pushed). */
#ifndef TMPROV_DEVKAFKA_DKCONTROL_H
#define TMPROV_DEVKAFKA_DKCONTROL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct dkcontrol;

/* Listens on the Unix socket path (replacing a stale one) for commands to mc:
 *   down                      every broker disconnects its clients and refuses new ones
 *   up                        they accept connections again
 *   errors APIKEY ERR COUNT   the next COUNT requests of Kafka ApiKey APIKEY fail with ERR
 *                             (a numeric Kafka error code, e.g. 7 REQUEST_TIMED_OUT)
 * Each is answered "ok" or "error: why" on one line. NULL with err on failure. */
struct dkcontrol *dkcontrol_new(const char *path, rd_kafka_mock_cluster_t *mc, char *err,
				size_t errlen);
/* The listening descriptor, to poll for a client. */
int dkcontrol_fd(const struct dkcontrol *c);
/* Accepts one client, runs its one command and answers it. */
void dkcontrol_serve(struct dkcontrol *c);
/* Closes and removes the socket. NULL: no-op. */
void dkcontrol_free(struct dkcontrol *c);

#endif
