/* kprod: a test producer that sends many messages at once (an idempotent producer, so each
 * partition keeps the order sent) and reports where each landed. */
#ifndef TMPROV_TEST_KPROD_H
#define TMPROV_TEST_KPROD_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Filled when the broker acknowledged (or refused) one message. Zeroed by kprod_send. */
struct kdelivery {
	int done;
	rd_kafka_resp_err_t err;
	int32_t partition;
	int64_t offset;
};

struct kprod;

/* A producer to brokers. 0, or -1 with err. */
int kprod_new(struct kprod **out, const char *brokers, char *err, size_t errlen);
/* Queues one message; key may be NULL. d (may be NULL) is filled on delivery and must live
 * until kprod_flush returns. 0, or -1 with err. */
int kprod_send(struct kprod *p, const char *topic, const void *key, size_t keylen, const void *val,
	       size_t len, struct kdelivery *d, char *err, size_t errlen);
/* The same with headers hdrs (NULL: none), whose ownership is taken whatever happens. */
int kprod_send_headers(struct kprod *p, const char *topic, const void *key, size_t keylen,
		       const void *val, size_t len, rd_kafka_headers_t *hdrs, struct kdelivery *d,
		       char *err, size_t errlen);
/* Waits up to timeout_ms for every queued message. 0 when all were delivered without error,
 * else -1 with err (the first failure). */
int kprod_flush(struct kprod *p, int timeout_ms, char *err, size_t errlen);
void kprod_free(struct kprod *p);

#endif
