/* dkconfig: tmprov-devkafka's configuration table: its own keys, the topic names of the Kafka
 * group and the shared log level (cfgkeys.h). */
#ifndef TMPROV_DEVKAFKA_DKCONFIG_H
#define TMPROV_DEVKAFKA_DKCONFIG_H

#include "cfgkeys.h"
#include "config.h"

extern const struct cfg_key KEY_TMPROV_DEVKAFKA_BOOTSTRAP_FILE;
extern const struct cfg_key KEY_TMPROV_DEVKAFKA_BROKERS;
extern const struct cfg_key KEY_TMPROV_DEVKAFKA_CONTROL;
extern const struct cfg_key KEY_TMPROV_DEVKAFKA_PARTITIONS;

/* tmprov-devkafka's configuration with every key at its default; NULL when out of memory. */
struct cfg *dkconfig_new(void);

#endif
