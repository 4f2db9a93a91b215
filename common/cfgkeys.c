/* cfgkeys: the configuration keys that common/ modules or more than one program read,
 * alphabetical. A key is required or has another default only where a program's table says so
 * (cfg_override). */
#include "cfgkeys.h"

#include <stddef.h>

/* TMPROV_KAFKA_PROPS and TMPROV_KAFKA_PROPS_FILE are defined in kafka.c, beside their checks. */

/* No default: each program states its own port, so that two cannot meet on one. */
CFG_KEY(TMPROV_ADMIN_LISTEN, CFG_LISTEN, NULL, 0, 0, 0, NULL,
	"Admin address and port: /healthz, /readyz, /metrics.");
CFG_KEY(TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT, CFG_INT, "67108864", 0, 8192, 4294967296, NULL,
	"Largest argon2id memory (m, in bytes here) of a stored verifier: a user.upsert "
	"password_digest over it is rejected, and tmprov-callback refuses to check a stored one "
	"over it (the login fails), since each login of that email would allocate that much "
	"(default 64 MiB, RFC 9106's second choice). TMPROV_ARGON2_MEMLIMIT is always allowed.");
CFG_KEY(TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT, CFG_INT, "4", 0, 1, 100, NULL,
	"Most argon2id passes (t) of a stored verifier, as TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT: "
	"a password_digest over it is rejected and a stored one is not checked. "
	"TMPROV_ARGON2_OPSLIMIT is always allowed.");
CFG_KEY(TMPROV_ARGON2_MEMLIMIT, CFG_INT, "19922944", 0, 8192, 1073741824, NULL,
	"argon2id memory per hash, bytes (default 19 MiB).");
CFG_KEY(TMPROV_ARGON2_OPSLIMIT, CFG_INT, "2", 0, 1, 10, NULL, "argon2id passes per hash.");
CFG_KEY(TMPROV_DATABASE_URL, CFG_STRING, "postgresql:///tmprov", CFG_SECRET, 0, 0, NULL,
	"libpq connection string or URI (secret: it may hold a password). Unset while PGDATABASE "
	"or PGSERVICE is set, libpq's PG* variables alone say where to connect.",
	.default_unless_env = "PGDATABASE|PGSERVICE");
CFG_KEY(TMPROV_DB_CONNECT_ATTEMPTS, CFG_INT, "10", 0, 0, 1000000, NULL,
	"connection attempts before giving up (0: no limit but the budget)");
CFG_KEY(TMPROV_DB_CONNECT_BUDGET, CFG_MS, "30s", 0, 0, 86400000, NULL,
	"time to keep retrying a connection before giving up (0: no limit but the attempts)");
CFG_KEY(TMPROV_DB_CONNECT_TIMEOUT, CFG_MS, "5s", 0, 1000, 3600000, NULL,
	"timeout of one connection attempt (whole seconds)");
CFG_KEY(TMPROV_DB_STATEMENT_TIMEOUT, CFG_MS, "10s", 0, 0, 86400000, NULL,
	"server-side limit on one statement (0: none)");
CFG_KEY(TMPROV_HASH_CONCURRENCY, CFG_INT, "0", 0, 0, 1024, NULL,
	"argon2id hashes computed at once (for user.upsert in the worker, logins in "
	"tmprov-callback), each taking TMPROV_ARGON2_MEMLIMIT; 0: the number of online CPUs.");
/* Longer than a worker's revoke may hold its loop (TMPROV_DRAIN_TIMEOUT, 30 s, plus 5 s for
 * stopped jobs) and a purge batch (the statement timeout): only a loop that is really stuck
 * fails the liveness probe. */
CFG_KEY(TMPROV_HEALTH_STALL_TIMEOUT, CFG_MS, "60s", 0, 0, 86400000, NULL,
	"/healthz answers 503 when the program's main loop (the worker's consume loop, the "
	"callback's signal and purge loop) has not turned for this long (0: never).");
CFG_KEY(TMPROV_KAFKA_BROKERS, CFG_STRING, "localhost:9092", 0, 0, 0, NULL,
	"Kafka bootstrap servers, host:port[,host:port...]");
CFG_KEY(TMPROV_KAFKA_GROUP, CFG_STRING, "tmprov-worker", 0, 0, 0, NULL,
	"consumer group of the workers");
CFG_KEY(TMPROV_LOG_LEVEL, CFG_ENUM, "info", CFG_RELOAD, 0, 0, "debug|info|warn|error",
	"Least severity of the JSON log lines on stderr.");
CFG_KEY(TMPROV_MIGRATIONS_DIR, CFG_STRING, NULL, 0, 0, 0, NULL,
	"directory of the NNN_name.sql migration files (unset: ../share/tmprov/migrations beside "
	"the program's folder, or the source tree's migrations/)");
CFG_KEY(TMPROV_PARTNER_ID, CFG_STRING, NULL, CFG_SECRET, 0, 0, NULL,
	"Our partner id, TurboMeeting's service_company_uid: every wapi call carries it.");
CFG_KEY(TMPROV_PASSWORD_KEY, CFG_STRING, NULL, CFG_SECRET, 0, 0, NULL,
	"Key of the hmac-sha256-hex scheme.");
CFG_KEY(TMPROV_PASSWORD_SCHEME, CFG_ENUM, "sha256-hex", 0, 0, 0,
	"sha256-hex|sha512-hex|hmac-sha256-hex|plain",
	"What TM sends as `password` at login, as agreed with RHUB; the worker applies it to a "
	"user.upsert `password` before hashing.");
CFG_KEY(TMPROV_PUBLIC_URL, CFG_URL, "http://127.0.0.1:8090", 0, 0, 0, NULL,
	"Base URL at which TM and users reach tmprov-callback; QueryScheduledMeetingURL and "
	"the default join URL are built on it.");
CFG_KEY(TMPROV_TM_CONNECT_TIMEOUT, CFG_MS, "3s", 0, 10, 300000, NULL,
	"TurboMeeting connect timeout; a call that cannot connect is safe to repeat");
CFG_KEY(TMPROV_TM_MAX_RESPONSE, CFG_INT, "65536", 0, 1024, 16777216, NULL,
	"largest TurboMeeting answer read, in bytes; a larger one is a transient error");
CFG_KEY(
    TMPROV_TM_RATE, CFG_INT, "20", CFG_RELOAD, 0, 100000, NULL,
    "TM calls per second for the whole consumer group (every worker of TMPROV_KAFKA_GROUP and "
    "tmprov reconcile share one token bucket in PostgreSQL); calls wait for a token, none fails "
    "for lack of one; 0: no limit. The default keeps a bulk import far below what one TM server "
    "serves to its live meetings");
CFG_KEY(
    TMPROV_TM_RATE_BURST, CFG_INT, "0", 0, 0, 1000000, NULL,
    "tokens the group's bucket holds at most, made as calls at once after an idle spell; in any "
    "one second the group makes at most 1.05 x TMPROV_TM_RATE + this + processes x "
    "TMPROV_TM_RATE/20 "
    "calls; 0: a tenth of TMPROV_TM_RATE (at least 1)");
CFG_KEY(TMPROV_TM_RETRY_AFTER_MAX, CFG_MS, "60s", 0, 0, 86400000, NULL,
	"cap on the Retry-After delay TurboMeeting may ask for");
CFG_KEY(TMPROV_TM_TIMEOUT, CFG_MS, "10s", 0, 10, 600000, NULL,
	"TurboMeeting whole-call timeout; a call timed out after sending is ambiguous");
CFG_KEY(TMPROV_TM_URL, CFG_URL, NULL, 0, 0, 0, NULL,
	"TurboMeeting server base URL: the worker calls {URL}/as/wapi/service/..., "
	"tmprov-callback redirects /start and /join to it. No query or fragment; a domain name "
	"in its xn-- form.");
CFG_KEY(TMPROV_TOPIC_COMMANDS, CFG_STRING, "tm.commands", 0, 0, 0, NULL,
	"topic the billing system writes commands to");
CFG_KEY(TMPROV_TOPIC_DLQ, CFG_STRING, "tm.commands.dlq", 0, 0, 0, NULL,
	"topic unprocessable commands are copied to");
CFG_KEY(TMPROV_TOPIC_EVENTS, CFG_STRING, "tm.events", 0, 0, 0, NULL,
	"topic outcome events are published to");
