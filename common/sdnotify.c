/* sdnotify: sd_notify messages to the service manager. A failure to send is logged once at
 * debug level and never stops the program: supervision is a help, not a dependency. */
#include "sdnotify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "log.h"

#define STATUS_MAX 256

static void
notify(const char *msg)
{
	int rc = sd_notify(0, msg);

	/* 0: no NOTIFY_SOCKET (not run by systemd); < 0: the socket refused it. */
	if (rc < 0)
		log_debug("sd_notify: cannot send %.20s...: error %d", msg, rc);
}

void
sdnotify_ready(const char *status)
{
	char msg[STATUS_MAX + 32];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify(msg);
}

void
sdnotify_reloading(void)
{
	notify("RELOADING=1\nSTATUS=reloading the configuration");
}

void
sdnotify_stopping(const char *status)
{
	char msg[STATUS_MAX + 32];

	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status);
	notify(msg);
}

void
sdnotify_status(const char *fmt, ...)
{
	char msg[STATUS_MAX + 16] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	notify(msg);
}

long
sdnotify_watchdog_interval_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	/* systemd's advice: ping at half the timeout. */
	return usec / 2000 > 0 ? (long)(usec / 2000) : 1;
}

void
sdnotify_watchdog(void)
{
	notify("WATCHDOG=1");
}
