/* mockfault: the mock cluster's fault API as one-line text commands (push request errors, with or
 * without a round-trip time, take brokers down and up), for tests driving tmprov-devkafka. */
#ifndef TMPROV_DEVKAFKA_MOCKFAULT_H
#define TMPROV_DEVKAFKA_MOCKFAULT_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Applies one command to mc (words separated by spaces; API keys and errors by name, e.g.
 * Produce, NOT_LEADER_FOR_PARTITION, or by number):
 *   errors APIKEY ERR...               the next requests of APIKEY, to any broker, fail with
 *                                      these errors in turn
 *   broker-errors BROKER APIKEY ERR[:RTT_MS]...  the same for one broker, each answer delayed
 *                                      by RTT_MS (default 0)
 *   clear APIKEY                       forgets the errors pushed for APIKEY
 *   broker-down BROKER | broker-up BROKER
 *   rtt BROKER MS                      delays every answer of BROKER
 * Returns 0, or -1 with err saying what was wrong with the command. */
int mockfault_apply(rd_kafka_mock_cluster_t *mc, const char *line, char *err, size_t errlen);

#endif
