/* control: tmprov-devkafka's control socket, a Unix-domain stream socket on which a test sends
 * one fault command (mockfault.h) per connection and reads back "ok" or "error: WHY". */
#ifndef TMPROV_DEVKAFKA_CONTROL_H
#define TMPROV_DEVKAFKA_CONTROL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Listens on path (an old socket there is replaced). Returns the listening descriptor, or -1
 * with err. */
int control_listen(const char *path, char *err, size_t errlen);

/* Accepts one waiting connection, reads its command (one line, bounded, 2 s at most), applies
 * it to mc and answers. Errors of that one connection are logged, never fatal. */
void control_serve(int lfd, rd_kafka_mock_cluster_t *mc);

#endif
