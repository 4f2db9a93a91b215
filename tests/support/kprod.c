/* kprod: an idempotent librdkafka producer for tests whose delivery reports fill a
 * struct kdelivery per message and count failures. */
#include "kprod.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

struct kprod {
	rd_kafka_t *rk;
	rd_kafka_resp_err_t first_err; /* first failed delivery since the last flush */
};

static void
kprod_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kprod *p = opaque;
	struct kdelivery *d = m->_private;

	(void)rk;
	if (m->err && !p->first_err)
		p->first_err = m->err;
	if (d == NULL)
		return;
	d->err = m->err;
	d->partition = m->partition;
	d->offset = m->offset;
	d->done = 1;
}

int
kprod_new(struct kprod **out, const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	struct kprod *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	kafka_conf_route_logs(conf);
	rd_kafka_conf_set_dr_msg_cb(conf, kprod_dr);
	rd_kafka_conf_set_opaque(conf, p);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
	    rd_kafka_conf_set(conf, "linger.ms", "2", err, errlen) ||
	    /* Above the workers' own producers' limit (about 1 MB): a test sends what a partner
	     * could, oversize commands included (defect 3 of issue 11). */
	    rd_kafka_conf_set(conf, "message.max.bytes", "4000000", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return -1;
	}
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (p->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int
kprod_send_headers(struct kprod *p, const char *topic, const void *key, size_t keylen,
		   const void *val, size_t len, rd_kafka_headers_t *hdrs, struct kdelivery *d,
		   char *err, size_t errlen)
{
	rd_kafka_resp_err_t rc;

	if (d != NULL)
		memset(d, 0, sizeof(*d));
	for (int tries = 0;; tries++) {
		if (hdrs != NULL)
			rc = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
					       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					       RD_KAFKA_V_KEY(key, key ? keylen : 0),
					       RD_KAFKA_V_VALUE((void *)val, len),
					       RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d),
					       RD_KAFKA_V_END);
		else
			rc = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
					       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					       RD_KAFKA_V_KEY(key, key ? keylen : 0),
					       RD_KAFKA_V_VALUE((void *)val, len),
					       RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
		/* A full local queue drains as deliveries come back. */
		if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries == 100)
			break;
		rd_kafka_poll(p->rk, 100);
	}
	if (rc) {
		/* librdkafka took the headers only on success. */
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(rc));
		return -1;
	}
	rd_kafka_poll(p->rk, 0);
	return 0;
}

int
kprod_send(struct kprod *p, const char *topic, const void *key, size_t keylen, const void *val,
	   size_t len, struct kdelivery *d, char *err, size_t errlen)
{
	return kprod_send_headers(p, topic, key, keylen, val, len, NULL, d, err, errlen);
}

int
kprod_flush(struct kprod *p, int timeout_ms, char *err, size_t errlen)
{
	rd_kafka_resp_err_t rc = rd_kafka_flush(p->rk, timeout_ms);

	if (rc) {
		snprintf(err, errlen, "flush: %s (%d messages left)", rd_kafka_err2str(rc),
			 rd_kafka_outq_len(p->rk));
		return -1;
	}
	if (p->first_err) {
		snprintf(err, errlen, "delivery: %s", rd_kafka_err2str(p->first_err));
		p->first_err = 0;
		return -1;
	}
	return 0;
}

void
kprod_free(struct kprod *p)
{
	if (p == NULL)
		return;
	rd_kafka_flush(p->rk, 5000);
	rd_kafka_destroy(p->rk);
	free(p);
}
