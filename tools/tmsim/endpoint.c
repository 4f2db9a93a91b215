/* endpoint: names of the TurboMeeting wapi service calls. */
#include "endpoint.h"

#include <string.h>

static const char *const names[EP_COUNT] = {
    [EP_CREATE_ACCOUNT] = "create_account",   [EP_UPDATE_ACCOUNT] = "update_account",
    [EP_DELETE_ACCOUNT] = "delete_account",   [EP_QUERY_ACCOUNT] = "query_account",
    [EP_REMOTE_SCHEDULE] = "remote_schedule",
};

const char *
endpoint_name(enum endpoint ep)
{
	return (unsigned)ep < EP_COUNT ? names[ep] : "?";
}

int
endpoint_parse(const char *name)
{
	for (int i = 0; i < EP_COUNT; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}
