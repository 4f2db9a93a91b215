/* simconfig: tmsim's configuration table: its own TMSIM_ keys and the shared partner id and log
 * level (cfgkeys.h). */
#ifndef TMPROV_TMSIM_SIMCONFIG_H
#define TMPROV_TMSIM_SIMCONFIG_H

#include "cfgkeys.h"
#include "config.h"

extern const struct cfg_key KEY_TMSIM_LISTEN;
extern const struct cfg_key KEY_TMSIM_FAULTS;
extern const struct cfg_key KEY_TMSIM_CALL_LOG_MAX;
extern const struct cfg_key KEY_TMSIM_MAX_CONNECTIONS;
extern const struct cfg_key KEY_TMSIM_IDLE_TIMEOUT;

/* tmsim's configuration with every key at its default; NULL when out of memory. */
struct cfg *simconfig_new(void);

#endif
