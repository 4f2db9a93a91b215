/* reload: what SIGHUP does in the long-running programs: the --config file read again, the
 * reloadable settings applied (the log level here), the service manager told. */
#ifndef TMPROV_RELOAD_H
#define TMPROV_RELOAD_H

#include "config.h"

/* RELOADING=1, cfg_reload (which logs each change), the new TMPROV_LOG_LEVEL applied, READY=1.
 * A file with an error is logged and changes nothing. Returns cfg_reload's result: the number
 * of settings that took a new value (the caller applies its own reloadable ones), or -1. */
int reload_apply(struct cfg *c);

#endif
