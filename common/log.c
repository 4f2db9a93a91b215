/* log: structured logging, one JSON object per line on stderr.
 * A line is formatted whole in a local buffer and written with one write(2). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static const char *log_program = "tmprov";
/* Atomic: a reload (SIGHUP) changes it while other threads log. */
static _Atomic int log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* Per thread: each pool thread works on its own job. */
static _Thread_local struct log_ctx log_context = {.partition = -1};

void
log_init(const char *program, enum log_level level)
{
	log_program = program;
	log_min = level;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

bool
log_enabled(enum log_level level)
{
	return (int)level >= log_min;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Appends s to buf as the inside of a JSON string; returns the new length. */
static size_t
json_escape(char *buf, size_t len, size_t cap, const char *s)
{
	for (; *s && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c == '\n') {
			buf[len++] = '\\';
			buf[len++] = 'n';
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
}

void
log_ctx_set(const struct log_ctx *ctx)
{
	log_context = *ctx;
}

void
log_ctx_get(struct log_ctx *out)
{
	*out = log_context;
}

void
log_ctx_position(int partition, long long offset)
{
	log_context = (struct log_ctx){.partition = partition, .offset = offset};
}

void
log_ctx_clear(void)
{
	log_context = (struct log_ctx){.partition = -1};
}

/* Appends ,"name":"value" when value is set. */
static size_t
log_field(char *buf, size_t len, size_t cap, const char *name, const char *value)
{
	if (value == NULL || len + strlen(name) + 8 >= cap)
		return len;
	len += (size_t)snprintf(buf + len, cap - len, ",\"%s\":\"", name);
	len = json_escape(buf, len, cap - 2, value);
	buf[len++] = '"';
	return len;
}

/* The thread's context as fields, after the message (whose length is capped at half a line,
 * so they always fit). */
static size_t
log_ctx_fields(char *buf, size_t len, size_t cap)
{
	const struct log_ctx *c = &log_context;

	/* The bounded ones first: type is any string of a rejected message, cut to what is left. */
	len = log_field(buf, len, cap, "command_id", c->command_id);
	len = log_field(buf, len, cap, "trace_id", c->trace_id);
	len = log_field(buf, len, cap, "subject", c->subject);
	if (c->partition >= 0 && len + 64 < cap)
		len += (size_t)snprintf(buf + len, cap - len, ",\"partition\":%d,\"offset\":%lld",
					c->partition, c->offset);
	return log_field(buf, len, cap, "type", c->type);
}

static __attribute__((noinline)) void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX / 2], line[LOG_LINE_MAX], ts[32];
	struct timeval tv;
	struct tm tm;
	size_t len;

	if ((int)level < log_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = (size_t)snprintf(line, sizeof(line),
			       "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"program\":\"%s\","
			       "\"pid\":%ld,\"msg\":\"",
			       ts, (long)tv.tv_usec / 1000, level_names[level], log_program,
			       (long)getpid());
	/* The message gets at most half the line's room: the context fields come after it. */
	len = json_escape(line, len, sizeof(line) / 2 + len, msg);
	line[len++] = '"';
	len = log_ctx_fields(line, len, sizeof(line) - 3);
	line[len++] = '}';
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0)
		return; /* nowhere left to report it */
}

/* The level is looked at before log_vwrite's frame: its line buffers are a few pages of stack,
 * which every thread that called a log_debug would otherwise keep touched (make bench, c1024:
 * a thread per command in flight). */
#define LOG_FN(name, level)                                                                        \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		if ((int)(level) < log_min)                                                        \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, fmt, ap);                                                        \
		va_end(ap);                                                                        \
	}

LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
