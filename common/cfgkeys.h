/* cfgkeys: the configuration keys that common/ modules or more than one program read, each
 * defined once; a program composes them into its table (the common modules' groups, such as
 * DB_CONFIG_KEYS, hold them) and reads them by these names. */
#ifndef TMPROV_CFGKEYS_H
#define TMPROV_CFGKEYS_H

#include "config.h"

extern const struct cfg_key KEY_TMPROV_ADMIN_LISTEN;
extern const struct cfg_key KEY_TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT;
extern const struct cfg_key KEY_TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT;
extern const struct cfg_key KEY_TMPROV_ARGON2_MEMLIMIT;
extern const struct cfg_key KEY_TMPROV_ARGON2_OPSLIMIT;
extern const struct cfg_key KEY_TMPROV_DATABASE_URL;
extern const struct cfg_key KEY_TMPROV_DB_CONNECT_ATTEMPTS;
extern const struct cfg_key KEY_TMPROV_DB_CONNECT_BUDGET;
extern const struct cfg_key KEY_TMPROV_DB_CONNECT_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_DB_STATEMENT_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_HASH_CONCURRENCY;
extern const struct cfg_key KEY_TMPROV_KAFKA_BROKERS;
extern const struct cfg_key KEY_TMPROV_KAFKA_GROUP;
extern const struct cfg_key KEY_TMPROV_KAFKA_PROPS;
extern const struct cfg_key KEY_TMPROV_KAFKA_PROPS_FILE;
extern const struct cfg_key KEY_TMPROV_LOG_LEVEL;
extern const struct cfg_key KEY_TMPROV_MIGRATIONS_DIR;
extern const struct cfg_key KEY_TMPROV_PARTNER_ID;
extern const struct cfg_key KEY_TMPROV_PASSWORD_KEY;
extern const struct cfg_key KEY_TMPROV_PASSWORD_SCHEME;
extern const struct cfg_key KEY_TMPROV_PUBLIC_URL;
extern const struct cfg_key KEY_TMPROV_TM_CONNECT_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_TM_MAX_RESPONSE;
extern const struct cfg_key KEY_TMPROV_TM_RATE;
extern const struct cfg_key KEY_TMPROV_TM_RATE_BURST;
extern const struct cfg_key KEY_TMPROV_TM_RETRY_AFTER_MAX;
extern const struct cfg_key KEY_TMPROV_TM_TIMEOUT;
extern const struct cfg_key KEY_TMPROV_TM_URL;
extern const struct cfg_key KEY_TMPROV_TOPIC_COMMANDS;
extern const struct cfg_key KEY_TMPROV_TOPIC_DLQ;
extern const struct cfg_key KEY_TMPROV_TOPIC_EVENTS;

#endif
