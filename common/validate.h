/* validate: parses one tm.commands message (CloudEvents 1.0, structured JSON) and checks it
 * against the command contract. schemas/command.schema.json is the reference; both must give
 * the same verdict on tests/vectors/commands/ (tests/unit/test_validate.c, check_vectors.py). */
#ifndef TMPROV_VALIDATE_H
#define TMPROV_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define VALIDATE_MAX_BYTES  65536 /* DESIGN.md: a command is at most 64 KiB */
#define VALIDATE_MAX_ERRORS 16
#define VALIDATE_ERROR_LEN  200

enum cmd_type {
	CMD_UNKNOWN = 0, /* type absent, not a string or not one of the eight */
	CMD_ACCOUNT_CREATE,
	CMD_ACCOUNT_UPDATE,
	CMD_ACCOUNT_DELETE,
	CMD_ACCOUNT_QUERY,
	CMD_USER_UPSERT,
	CMD_USER_DELETE,
	CMD_MEETING_SCHEDULE,
	CMD_MEETING_CANCEL,
};
#define CMD_TYPE_COUNT 9 /* including CMD_UNKNOWN */

/* "account.create", ...; NULL for CMD_UNKNOWN or a value out of range. */
const char *cmd_type_name(enum cmd_type kind);
/* The command type named by name, CMD_UNKNOWN when none (or name is NULL). */
enum cmd_type cmd_type_parse(const char *name);

/* A parsed command. The strings and data are borrowed from root and live until command_free. */
struct command {
	json_t *root;	     /* the whole event; owned */
	const char *id;	     /* never NULL */
	const char *source;  /* NULL when absent or not a string */
	const char *subject; /* never NULL */
	const char *type;    /* NULL when absent or not a string */
	enum cmd_type kind;  /* from type, even when the envelope is wrong */
	/* Borrowed. VALIDATE_OK: an object, or NULL when absent or null (account.delete/query).
	 * Otherwise whatever value "data" had, NULL when absent. On VALIDATE_OK integral reals
	 * such as 2.0 in integer fields have been replaced by integers, so json_integer_value
	 * reads every integer field. */
	json_t *data;
};

enum validate_status {
	VALIDATE_OK = 0,
	VALIDATE_TOO_LARGE,	 /* more than VALIDATE_MAX_BYTES */
	VALIDATE_NOT_UTF8,	 /* raw bytes are not well-formed UTF-8 */
	VALIDATE_NOT_JSON,	 /* see command_parse for what counts as JSON */
	VALIDATE_NOT_CLOUDEVENT, /* the envelope attributes are wrong */
	VALIDATE_UNKNOWN_TYPE,	 /* envelope fine, type not one of the eight */
	VALIDATE_INVALID,	 /* type known, data breaks its schema */
};
#define VALIDATE_STATUS_COUNT 7

/* Stable snake_case name ("ok", "too_large", "not_utf8", "not_json", "not_cloudevent",
 * "unknown_type", "invalid"): the tm.commands.dlq "reason" header. NULL when out of range. */
const char *validate_status_name(enum validate_status status);

/* Errors of one message, each starting with the field it is about and a colon:
 * "data.rooms: must be an integer from 1 to 10000", "subject: is required"; "message: ..." for
 * the pre-checks and a non-object. They never quote a value of the message (names of unknown
 * attributes and fields are shown as printable ASCII, shortened), so they are safe to log
 * and to publish in command.rejected. */
struct validate_errors {
	size_t n;    /* messages kept in msg, at most VALIDATE_MAX_ERRORS */
	size_t more; /* further errors that did not fit */
	char msg[VALIDATE_MAX_ERRORS][VALIDATE_ERROR_LEN];
};

/* Parses and checks buf[0..len). Pre-checks, in order: size (TOO_LARGE), UTF-8 without
 * overlongs, surrogates or code points above U+10FFFF (NOT_UTF8), then JSON (NOT_JSON): RFC 8259
 * text, any top-level value, no duplicate keys, no \u0000 or unpaired surrogate escapes,
 * integers within int64, finite reals, nesting at most 2048 (jansson's limits). Then the
 * envelope (NOT_CLOUDEVENT), the type (UNKNOWN_TYPE) and the type's data (INVALID).
 * *out is set to a new command (free with command_free) whenever the message is a JSON object
 * whose id and subject pass their envelope rules, whatever the status, so that the caller can
 * publish command.rejected; otherwise *out is NULL. errs may be NULL; it is reset first.
 * Returns VALIDATE_OK or the first failing stage. */
enum validate_status command_parse(const char *buf, size_t len, struct command **out,
				   struct validate_errors *errs);

/* One Kafka header of a message, borrowed; value NULL for a header without one. */
struct ce_header {
	const char *name;
	const void *value;
	size_t len;
};

/* Whether a message with headers h[0..n) is a CloudEvent in binary content mode (Kafka protocol
 * binding): it has a ce_specversion header and no content-type header starting with
 * application/cloudevents (which says structured mode). */
bool command_is_binary(const struct ce_header *h, size_t n);

/* Turns a binary-mode message into the structured-mode text of the same event, so that it
 * takes the one validation path (command_parse): each ce_NAME header becomes attribute NAME (a
 * JSON string), content-type becomes datacontenttype, and the value, when not empty, becomes
 * data as it is. The value must pass the pre-checks command_parse applies to a whole message
 * (size, UTF-8, one JSON value, so that it cannot add attributes of its own); if it does not,
 * that verdict is returned with its error in errs (reset first; may be NULL) and *text is NULL.
 * Header bytes are escaped, not checked: command_parse judges the result. On VALIDATE_OK *text
 * (malloc'd, NUL-terminated, free it) and *textlen hold the event. Out of memory aborts, as in
 * command_parse. */
enum validate_status command_binary_text(const struct ce_header *h, size_t n, const char *value,
					 size_t len, char **text, size_t *textlen,
					 struct validate_errors *errs);

/* Frees cmd and its document; NULL is a no-op. */
void command_free(struct command *cmd);

/* Whether buf[0..len) is well-formed UTF-8 (RFC 3629). Exposed for tests and for other
 * modules that must check raw bytes. */
bool validate_utf8(const char *buf, size_t len);

#endif
