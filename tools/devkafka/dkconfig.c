/* dkconfig: tmprov-devkafka's configuration table. */
#include "dkconfig.h"

#include <stddef.h>

#include "kafka.h"

CFG_KEY(TMPROV_DEVKAFKA_BOOTSTRAP_FILE, CFG_STRING, NULL, 0, 0, 0, NULL,
	"file the bootstrap address is written to once the cluster is ready (--bootstrap-file)");
CFG_KEY(TMPROV_DEVKAFKA_BROKERS, CFG_INT, "1", 0, 1, 16, NULL, "number of brokers (--brokers)");
CFG_KEY(TMPROV_DEVKAFKA_CONTROL, CFG_STRING, NULL, 0, 0, 0, NULL,
	"Unix socket path for fault commands (--control): one command per connection, e.g. "
	"\"errors Produce NOT_LEADER_FOR_PARTITION\"; answered \"ok\" or \"error: ...\"");
CFG_KEY(TMPROV_DEVKAFKA_PARTITIONS, CFG_INT, "4", 0, 1, 1000, NULL,
	"partitions of each topic (--partitions)");

static const struct cfg_key *const devkafka_keys[] = {
    &KEY_TMPROV_DEVKAFKA_BOOTSTRAP_FILE, &KEY_TMPROV_DEVKAFKA_BROKERS, &KEY_TMPROV_DEVKAFKA_CONTROL,
    &KEY_TMPROV_DEVKAFKA_PARTITIONS,	 &KEY_TMPROV_LOG_LEVEL,
};

struct cfg *
dkconfig_new(void)
{
	/* Of the Kafka keys only the topic names: the cluster is made here, not joined. */
	const struct cfg_list lists[] = {
	    {devkafka_keys, CFG_KEYS_LEN(devkafka_keys)},
	    {KAFKA_CONFIG_KEYS, KAFKA_TOPIC_NKEYS},
	};

	return cfg_compose(lists, CFG_KEYS_LEN(lists), NULL, 0);
}
