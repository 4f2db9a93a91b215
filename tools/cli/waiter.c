/* waiter: a table of the commands sent (idmap, plus their order for the summary), fed by the
 * two topics through ktopic and by the outbox through the database every few seconds. */
#include "waiter.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "cfgkeys.h"
#include "clicfg.h"
#include "clisql.h"
#include "dlqdef.h"
#include "evfmt.h"
#include "idmap.h"
#include "kafka.h"
#include "ktopic.h"
#include "log.h"
#include "clock.h"

#define WAITER_DB_EVERY_MS   3000
#define WAITER_DB_CHUNK	     500
#define WAITER_LINE_EVERY_MS 2000
#define WAITER_BAR_EVERY_MS  100
#define WAITER_LIST_MAX	     50 /* commands listed per kind in the summary */

enum wstate { W_PENDING, W_SUCCEEDED, W_FAILED, W_REJECTED, W_CONFLICT, W_NSTATES };

static const char *const WSTATE_NAME[W_NSTATES] = {"without an outcome", "succeeded", "failed",
						   "rejected", "refused as id conflicts"};

struct wentry {
	char *id, *label, *detail;
	enum wstate st;
};

struct waiter {
	const struct cfg *cfg;
	struct ktopic *kt;
	char *tevents, *tdlq;
	struct idmap *map;
	struct wentry **order;
	size_t n, cap;
	size_t count[W_NSTATES];
	struct db *db;
	bool db_failed;
	bool tty;
	long long last_shown_ms;
	size_t last_shown_done;
};

struct waiter *
waiter_new(const struct cfg *c, char *err, size_t errlen)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->cfg = c;
	w->tty = isatty(STDERR_FILENO);
	w->tevents = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_EVENTS));
	w->tdlq = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_DLQ));
	w->map = idmap_new();
	if (w->tevents == NULL || w->tdlq == NULL || w->map == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->kt = ktopic_new(c, err, errlen);
	if (w->kt == NULL || ktopic_add(w->kt, w->tevents, KTOPIC_END, err, errlen) != 0 ||
	    ktopic_add(w->kt, w->tdlq, KTOPIC_END, err, errlen) != 0 ||
	    ktopic_start(w->kt, err, errlen) != 0)
		goto fail;
	return w;
fail:
	waiter_free(w);
	return NULL;
}

static void
wentry_free(void *p)
{
	struct wentry *e = p;

	free(e->id);
	free(e->label);
	free(e->detail);
	free(e);
}

void
waiter_free(struct waiter *w)
{
	if (w == NULL)
		return;
	ktopic_free(w->kt);
	db_free(w->db);
	idmap_free(w->map, wentry_free);
	free(w->order);
	free(w->tevents);
	free(w->tdlq);
	free(w);
}

int
waiter_expect(struct waiter *w, const char *id, const char *label)
{
	struct wentry *e;

	if (idmap_get(w->map, id) != NULL)
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		struct wentry **o = realloc(w->order, cap * sizeof(*o));

		if (o == NULL)
			return -1;
		w->order = o;
		w->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->id = strdup(id)) == NULL || (e->label = strdup(label)) == NULL ||
	    idmap_put(w->map, id, e) != 0) {
		if (e != NULL)
			wentry_free(e);
		return -1;
	}
	w->order[w->n++] = e;
	w->count[W_PENDING]++;
	return 0;
}

static void
waiter_settle(struct waiter *w, struct wentry *e, enum wstate st, const char *detail)
{
	if (e == NULL || e->st != W_PENDING)
		return;
	e->st = st;
	e->detail = detail ? strdup(detail) : NULL;
	w->count[W_PENDING]--;
	w->count[st]++;
}

/* An outcome event: its commandid names the command. */
static void
waiter_event(struct waiter *w, const json_t *ev)
{
	const char *id = json_string_value(json_object_get(ev, "commandid"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	struct wentry *e = id ? idmap_get(w->map, id) : NULL;
	char detail[1024];

	/* command.held is an interim notice: the command's outcome comes later. */
	if (e == NULL || e->st != W_PENDING || type == NULL || strcmp(type, "command.held") == 0)
		return;
	evfmt_details(ev, detail, sizeof(detail));
	if (strcmp(type, "command.failed") == 0)
		waiter_settle(w, e, W_FAILED, detail);
	else if (strcmp(type, "command.rejected") == 0)
		waiter_settle(w, e, W_REJECTED, detail);
	else
		waiter_settle(w, e, W_SUCCEEDED, type);
}

/* A DLQ copy. Only an id conflict needs it: every other copy comes with an outcome event. */
static void
waiter_dlq(struct waiter *w, const rd_kafka_message_t *m)
{
	const char *reason = kafka_header(m, DLQ_HDR_REASON, NULL), *id;
	json_t *doc;
	struct wentry *e;

	if (reason == NULL || strcmp(reason, "id_conflict") != 0 || m->payload == NULL)
		return;
	doc = json_loadb(m->payload, m->len, 0, NULL);
	id = json_string_value(json_object_get(doc, "id"));
	e = id ? idmap_get(w->map, id) : NULL;
	waiter_settle(w, e, W_CONFLICT,
		      "the id was used before for a different command: nothing done (copied to "
		      "the DLQ with reason id_conflict); send it under a new id");
	json_decref(doc);
}

static void
waiter_message(struct waiter *w, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);

	if (strcmp(topic, w->tdlq) == 0) {
		waiter_dlq(w, m);
	} else if (m->payload != NULL) {
		json_t *ev = json_loadb(m->payload, m->len, 0, NULL);

		waiter_event(w, ev);
		json_decref(ev);
	}
}

static bool
waiter_db_ready(struct waiter *w)
{
	char err[512];

	if (w->db != NULL)
		return true;
	if (w->db_failed)
		return false;
	w->db = clicfg_db(w->cfg, true, err, sizeof(err));
	if (w->db == NULL) {
		w->db_failed = true;
		fprintf(stderr,
			"tmprov: note: no database (%s): waiting on %s only, so a command whose "
			"outcome was published before this run will not be seen\n",
			err, w->tevents);
	}
	return w->db != NULL;
}

static void
waiter_db_chunk(struct waiter *w, json_t *ids)
{
	char *text = json_dumps(ids, JSON_COMPACT), err[512];
	const char *params[1] = {text};
	PGresult *res;

	if (text == NULL)
		return;
	res = db_exec(w->db, CLISQL_OUTCOMES, 1, params, err, sizeof(err));
	free(text);
	if (res == NULL) {
		log_error("reading outcomes from the database: %s", err);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *ev = json_loads(PQgetvalue(res, i, 1), 0, NULL);

		waiter_event(w, ev);
		json_decref(ev);
	}
	PQclear(res);
}

/* Outcomes already in the outbox for commands still pending. */
static void
waiter_db_check(struct waiter *w)
{
	json_t *ids;

	if (w->count[W_PENDING] == 0 || !waiter_db_ready(w))
		return;
	ids = json_array();
	for (size_t i = 0; i < w->n && ids != NULL; i++) {
		if (w->order[i]->st != W_PENDING)
			continue;
		json_array_append_new(ids, json_string(w->order[i]->id));
		if (json_array_size(ids) == WAITER_DB_CHUNK) {
			waiter_db_chunk(w, ids);
			json_array_clear(ids);
		}
	}
	if (json_array_size(ids) > 0)
		waiter_db_chunk(w, ids);
	json_decref(ids);
}

static void
waiter_progress(struct waiter *w, bool final)
{
	size_t done = w->n - w->count[W_PENDING];
	long long t = clock_now_ms();

	if (w->tty) {
		char bar[41];
		size_t fill = w->n ? done * 40 / w->n : 40;

		/* Redrawn when something changed, and every second to show it is alive. */
		if (!final && (t - w->last_shown_ms < WAITER_BAR_EVERY_MS ||
			       (done == w->last_shown_done && t - w->last_shown_ms < 1000)))
			return;
		memset(bar, '#', fill);
		memset(bar + fill, '.', 40 - fill);
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %zu/%zu  succeeded %zu  failed %zu  rejected %zu%s", bar,
			done, w->n, w->count[W_SUCCEEDED], w->count[W_FAILED],
			w->count[W_REJECTED] + w->count[W_CONFLICT], final ? "\n" : "");
	} else {
		if (!final &&
		    (done == w->last_shown_done || t - w->last_shown_ms < WAITER_LINE_EVERY_MS))
			return;
		if (final && done == w->last_shown_done && w->last_shown_ms != 0)
			return;
		fprintf(stderr,
			"progress: %zu/%zu outcomes (%zu succeeded, %zu failed, %zu rejected)\n",
			done, w->n, w->count[W_SUCCEEDED], w->count[W_FAILED],
			w->count[W_REJECTED] + w->count[W_CONFLICT]);
	}
	fflush(stderr);
	w->last_shown_ms = t;
	w->last_shown_done = done;
}

size_t
waiter_run(struct waiter *w, long timeout_ms)
{
	long long deadline = clock_now_ms() + timeout_ms, last_db;

	waiter_db_check(w);
	last_db = clock_now_ms();
	while (w->count[W_PENDING] > 0 && !clicfg_stop && clock_now_ms() < deadline) {
		rd_kafka_message_t *m = ktopic_poll(w->kt, 100);

		if (m != NULL) {
			waiter_message(w, m);
			rd_kafka_message_destroy(m);
		}
		if (clock_now_ms() - last_db >= WAITER_DB_EVERY_MS) {
			waiter_db_check(w);
			last_db = clock_now_ms();
		}
		waiter_progress(w, false);
	}
	waiter_progress(w, true);
	return w->count[W_PENDING];
}

bool
waiter_summary(struct waiter *w, FILE *out)
{
	static const enum wstate listed[] = {W_FAILED, W_REJECTED, W_CONFLICT, W_PENDING};

	fprintf(out, "outcomes of %zu command%s: %zu succeeded, %zu failed, %zu rejected", w->n,
		w->n == 1 ? "" : "s", w->count[W_SUCCEEDED], w->count[W_FAILED],
		w->count[W_REJECTED]);
	if (w->count[W_CONFLICT])
		fprintf(out, ", %zu refused as id conflicts", w->count[W_CONFLICT]);
	if (w->count[W_PENDING])
		fprintf(out, ", %zu without an outcome yet", w->count[W_PENDING]);
	fprintf(out, "\n");
	for (size_t k = 0; k < sizeof(listed) / sizeof(listed[0]); k++) {
		enum wstate st = listed[k];
		size_t shown = 0;

		if (w->count[st] == 0)
			continue;
		fprintf(out, "%s:\n", WSTATE_NAME[st]);
		for (size_t i = 0; i < w->n && shown < WAITER_LIST_MAX; i++) {
			const struct wentry *e = w->order[i];

			if (e->st != st)
				continue;
			fprintf(out, "  %s: %s%s%s\n", e->label, e->id, e->detail ? ": " : "",
				e->detail ? e->detail : "");
			shown++;
		}
		if (w->count[st] > shown)
			fprintf(out, "  ... and %zu more\n", w->count[st] - shown);
	}
	return w->count[W_SUCCEEDED] == w->n;
}
