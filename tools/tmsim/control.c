/* control: /healthz and the /_sim JSON API. Everything that reads shared state serialises it
 * under the lock, since the JSON documents borrow from the state. Unknown parameters are
 * refused with 400 so that a typo in a test is not silently ignored. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Refuses any parameter not in allowed (a NULL-terminated list). */
static int
params_allowed(const struct query *q, const char *const *allowed, struct reply *rep)
{
	char msg[128];

	for (size_t i = 0; i < q->n; i++) {
		size_t j = 0;

		while (allowed[j] != NULL && strcmp(allowed[j], q->p[i].key) != 0)
			j++;
		if (allowed[j] == NULL) {
			snprintf(msg, sizeof(msg), "unknown parameter \"%.64s\"", q->p[i].key);
			reply_error(rep, 400, msg);
			return -1;
		}
	}
	return 0;
}

void
control_healthz(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	(void)st;
	(void)arg;
	(void)q;
	reply_text(rep, 200, "text/plain", "ok\n");
}

void
control_faults(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	char err[256];

	(void)arg;
	state_lock(st);
	if (faults_apply(st->faults, q, err, sizeof(err)) != 0) {
		state_unlock(st);
		log_info("faults refused: %s", err);
		reply_error(rep, 400, err);
		return;
	}
	reply_json(rep, 200, json_pack("{s:o}", "faults", faults_dump(st->faults)));
	state_unlock(st);
	if (q->n > 0)
		log_info("faults set");
}

void
control_calls(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {"since", "endpoint", NULL};
	const char *since = query_get(q, "since"), *name = query_get(q, "endpoint");
	unsigned long from = 0;
	int ep = -1;
	char *end;

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	if (since != NULL) {
		errno = 0;
		from = strtoul(since, &end, 10);
		if (*since < '0' || *since > '9' || *end != '\0' || errno != 0) {
			reply_error(rep, 400, "since: not a sequence number");
			return;
		}
	}
	if (name != NULL && (ep = endpoint_parse(name)) < 0) {
		reply_error(rep, 400, "endpoint: not a TM endpoint");
		return;
	}
	state_lock(st);
	reply_json(rep, 200, calllog_dump(st->log, from, ep));
	state_unlock(st);
}

void
control_stats(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {NULL};

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	state_lock(st);
	reply_json(rep, 200, calllog_stats(st->log));
	state_unlock(st);
}

void
control_accounts(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {NULL};

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	state_lock(st);
	reply_json(rep, 200, store_dump(st->store));
	state_unlock(st);
}

void
control_reset(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {NULL};

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	state_reset(st);
	log_info("state reset");
	reply_json(rep, 200, json_pack("{s:b}", "reset", 1));
}

void
control_mx(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {"hostile",    "count", "only",
					      "garble_uid", "reset", NULL};
	char err[256];

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	state_lock(st);
	if (mxfault_apply(st->mx, q, err, sizeof(err)) != 0) {
		state_unlock(st);
		reply_error(rep, 400, err);
		return;
	}
	reply_json(rep, 200, json_pack("{s:o}", "mx", mxfault_dump(st->mx)));
	state_unlock(st);
	log_info("matrix faults set");
}

/* One count of /_sim/edit: decimal digits, 0 to 1000000 (the console may set what the wapi
 * would refuse: a drift can be anything). */
static int
edit_count(const char *v, long *out)
{
	char *end;

	if (v == NULL)
		return 0;
	errno = 0;
	*out = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || *out > 1000000)
		return -1;
	return 0;
}

void
control_edit(struct sim_state *st, int arg, const struct query *q, struct reply *rep)
{
	static const char *const allowed[] = {
	    "company_uid",	     "company_name", "email", "number_of_meeting_room",
	    "number_of_participant", "delete",	     NULL};
	const char *uid = query_get(q, "company_uid"), *name = query_get(q, "company_name"),
		   *email = query_get(q, "email"), *del = query_get(q, "delete");
	struct account_fields f;
	long rooms = -1, parts = -1;

	(void)arg;
	if (params_allowed(q, allowed, rep) != 0)
		return;
	if (uid == NULL || *uid == '\0' ||
	    (name != NULL && (*name == '\0' || strlen(name) > 255)) ||
	    (email != NULL && (*email == '\0' || strlen(email) > 254)) ||
	    edit_count(query_get(q, "number_of_meeting_room"), &rooms) != 0 ||
	    edit_count(query_get(q, "number_of_participant"), &parts) != 0 ||
	    (del != NULL && strcmp(del, "1") != 0)) {
		reply_error(rep, 400,
			    "company_uid is required; company_name and email non-empty, "
			    "counts 0 to 1000000, delete=1");
		return;
	}
	state_lock(st);
	if (store_get(st->store, uid, &f) != STORE_OK) {
		state_unlock(st);
		reply_error(rep, 404, "company_uid does not exist");
		return;
	}
	if (del != NULL) {
		store_delete(st->store, uid);
		reply_json(rep, 200, json_pack("{s:s}", "deleted", uid));
	} else {
		f.company_name = name ? name : f.company_name;
		f.email = email ? email : f.email;
		f.rooms = rooms >= 0 ? rooms : f.rooms;
		f.participants = parts >= 0 ? parts : f.participants;
		if (store_update(st->store, uid, &f) != STORE_OK)
			reply_error(rep, 500, "out of memory");
		else
			reply_json(rep, 200,
				   json_pack("{s:O}", "account", store_account(st->store, uid)));
	}
	state_unlock(st);
	log_info("account edited behind the partner's back");
}
