/* reload: SIGHUP's configuration reload, shared by tmprov-worker and tmprov-callback; never a
 * stop or a drain. */
#include "reload.h"

#include "cfgkeys.h"
#include "log.h"
#include "sdnotify.h"

int
reload_apply(struct cfg *c)
{
	enum log_level level;
	char err[512];
	int rc;

	sdnotify_reloading();
	if ((rc = cfg_reload(c, err, sizeof(err))) < 0)
		log_warn("reload: %s: keeping the running configuration", err);
	if (log_level_parse(cfg_str(c, &KEY_TMPROV_LOG_LEVEL), &level) == 0)
		log_set_level(level);
	log_debug("reload: done");
	sdnotify_ready("reloaded");
	return rc;
}
