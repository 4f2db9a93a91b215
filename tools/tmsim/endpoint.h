/* endpoint: the five TurboMeeting wapi service calls tmsim answers, as an enum with the names
 * used in URLs, fault scopes (only=), the call log and the stats. */
#ifndef TMSIM_ENDPOINT_H
#define TMSIM_ENDPOINT_H

enum endpoint {
	EP_CREATE_ACCOUNT,
	EP_UPDATE_ACCOUNT,
	EP_DELETE_ACCOUNT,
	EP_QUERY_ACCOUNT,
	EP_REMOTE_SCHEDULE,
	EP_COUNT,
};

const char *endpoint_name(enum endpoint ep);
/* Returns the endpoint named name, or -1. */
int endpoint_parse(const char *name);

#endif
