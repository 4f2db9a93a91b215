/* sdnotify: the service manager protocol (sd_notify from libsystemd): READY, RELOADING,
 * STOPPING, WATCHDOG and STATUS messages; all of it does nothing when NOTIFY_SOCKET is unset. */
#ifndef TMPROV_SDNOTIFY_H
#define TMPROV_SDNOTIFY_H

/* READY=1 with a STATUS= line (e.g. "consuming tm.commands"). */
void sdnotify_ready(const char *status);
/* RELOADING=1 before a reload; sdnotify_ready() after it. */
void sdnotify_reloading(void);
/* STOPPING=1 with a STATUS= line, as the shutdown starts. */
void sdnotify_stopping(const char *status);
/* A STATUS= line alone. */
void sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* How often the main loop must call sdnotify_watchdog(), in ms: half of WATCHDOG_USEC (the
 * unit's WatchdogSec=), or 0 when no watchdog is set for this process. */
long sdnotify_watchdog_interval_ms(void);
/* WATCHDOG=1: the main loop is alive. */
void sdnotify_watchdog(void);

#endif
