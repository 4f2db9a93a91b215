/* bench_tmsim: the tmsim-capacity scenario — query_account calls kept in flight at a fixed
 * concurrency over kept-alive connections with curl multi, one thread: how many calls per second
 * tmsim alone sustains, the ceiling every worker scenario runs under. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bench.h"
#include "bench_stats.h"
#include "clock.h"

#define BENCH_TMSIM_CONCURRENCY_MAX 4096
#define BENCH_TMSIM_ACCOUNTS	    64
/* An answer of tmsim's query_account is a few hundred bytes; more is an error, not a bigger
 * buffer. */
#define BENCH_TMSIM_BODY_MAX 4096

struct bench_slot {
	CURL *easy;
	double started_ms;
	bool warm; /* has completed a call: its connection is open */
	size_t len;
	bool too_large;
	char body[BENCH_TMSIM_BODY_MAX + 1];
};

struct bench_tmsim {
	const struct bench_opts *o;
	CURLM *multi;
	struct bench_slot *slots;
	long nslots, warm_slots;
	char **urls; /* one query_account URL per seeded account */
	size_t nurls, next_url;
	struct bench_samples lat;
	double t0, t_last;    /* measurement window: all slots warm .. last counted answer */
	bool measuring, stop; /* stop: no new transfers, the ones in flight drain */
	long calls, errors, in_flight, connections;
	char first_error[256];
};

static size_t
bench_tmsim_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct bench_slot *s = arg;
	size_t n = size * nmemb;

	if (s->len + n > BENCH_TMSIM_BODY_MAX) {
		s->too_large = true;
		return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	memcpy(s->body + s->len, data, n);
	s->len += n;
	s->body[s->len] = '\0';
	return n;
}

static int
bench_tmsim_start(struct bench_tmsim *b, struct bench_slot *s)
{
	s->len = 0;
	s->too_large = false;
	s->body[0] = '\0';
	if (curl_easy_setopt(s->easy, CURLOPT_URL, b->urls[b->next_url++ % b->nurls]) != CURLE_OK)
		return -1;
	s->started_ms = clock_now_ms_f();
	if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK)
		return -1;
	b->in_flight++;
	return 0;
}

/* A call counts as answered when tmsim said SUCCEEDED with HTTP 200 on it. */
static void
bench_tmsim_check(struct bench_tmsim *b, struct bench_slot *s, CURLcode rc)
{
	long status = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status == 200 && strstr(s->body, "SUCCEED") != NULL)
		return;
	if (b->errors++ == 0)
		snprintf(b->first_error, sizeof(b->first_error), "%s, HTTP %ld%s",
			 curl_easy_strerror(rc), status, s->too_large ? ", answer too large" : "");
}

static int
bench_tmsim_done(struct bench_tmsim *b, struct bench_slot *s, CURLcode rc)
{
	double now = clock_now_ms_f();
	long conns = 0;
	int src;

	curl_multi_remove_handle(b->multi, s->easy);
	b->in_flight--;
	bench_tmsim_check(b, s, rc);
	curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &conns);
	b->connections += conns;
	if (!s->warm) {
		s->warm = true;
		/* Measure from the moment every connection is open: set-up is not capacity. */
		if (++b->warm_slots == b->nslots) {
			b->measuring = true;
			b->t0 = now;
		}
	} else if (b->measuring && !b->stop) {
		b->calls++;
		b->t_last = now;
		src = bench_samples_add(&b->lat, now - s->started_ms);
		if (src != 0) {
			snprintf(b->first_error, sizeof(b->first_error), "%s",
				 bench_samples_strerror(src));
			return -1;
		}
		if ((b->o->calls > 0 && b->calls >= b->o->calls) ||
		    (b->o->duration_ms > 0 && now - b->t0 >= (double)b->o->duration_ms))
			b->stop = true;
	}
	return b->stop ? 0 : bench_tmsim_start(b, s);
}

/* Transfers restarted in curl_multi_info_read's loop need a curl_multi_perform to begin: polling
 * first would sleep the whole poll timeout (libcurl 7.88 sets no timer for a re-added handle
 * that reuses a cached connection), so the loop polls only when nothing was restarted. */
static int
bench_tmsim_loop(struct bench_tmsim *b)
{
	int running = 0, left;
	long finished;
	CURLMsg *m;

	while (b->in_flight > 0) {
		if (curl_multi_perform(b->multi, &running) != CURLM_OK)
			return -1;
		finished = 0;
		while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
			struct bench_slot *s = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			if (bench_tmsim_done(b, s, m->data.result) != 0)
				return -1;
			finished++;
		}
		if (finished == 0 && curl_multi_poll(b->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return -1;
	}
	return 0;
}

static int
bench_tmsim_urls(struct bench_tmsim *b, const struct tm_client_opts *tmo, char *err, size_t errlen)
{
	char(*uids)[TM_COMPANY_UID_MAX + 1] = calloc(BENCH_TMSIM_ACCOUNTS, sizeof(*uids));
	char url[TM_URL_MAX];
	int rc = -1;

	b->urls = calloc(BENCH_TMSIM_ACCOUNTS, sizeof(*b->urls));
	if (uids == NULL || b->urls == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (bench_tm_seed(tmo, BENCH_TMSIM_ACCOUNTS, uids, err, errlen) != 0)
		goto out;
	for (; b->nurls < BENCH_TMSIM_ACCOUNTS; b->nurls++) {
		struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT,
					 .company_uid = uids[b->nurls]};

		if (tm_build_url(tmo->base_url, tmo->partner_id, &req, false, url, sizeof(url), err,
				 errlen) != 0)
			goto out;
		b->urls[b->nurls] = strdup(url);
		if (b->urls[b->nurls] == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	free(uids);
	return rc;
}

static int
bench_tmsim_slots(struct bench_tmsim *b, const struct tm_client_opts *tmo)
{
	b->slots = calloc((size_t)b->nslots, sizeof(*b->slots));
	if (b->slots == NULL)
		return -1;
	for (long i = 0; i < b->nslots; i++) {
		struct bench_slot *s = &b->slots[i];

		s->easy = curl_easy_init();
		if (s->easy == NULL ||
		    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, bench_tmsim_write) !=
			CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, tmo->connect_timeout_ms) !=
			CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, tmo->timeout_ms) != CURLE_OK)
			return -1;
	}
	return 0;
}

static void
bench_tmsim_free(struct bench_tmsim *b)
{
	for (long i = 0; b->slots != NULL && i < b->nslots; i++) {
		if (b->slots[i].easy != NULL && b->multi != NULL)
			curl_multi_remove_handle(b->multi, b->slots[i].easy);
		curl_easy_cleanup(b->slots[i].easy);
	}
	free(b->slots);
	curl_multi_cleanup(b->multi);
	for (size_t i = 0; i < b->nurls; i++)
		free(b->urls[i]);
	free(b->urls);
	bench_samples_free(&b->lat);
}

static int
bench_tmsim_result(struct bench_tmsim *b, struct bench_result *r, char *err, size_t errlen)
{
	double elapsed = b->t_last - b->t0;

	if (b->errors > 0) {
		snprintf(err, errlen, "%ld calls failed; first: %s", b->errors, b->first_error);
		return -1;
	}
	if (b->calls == 0 || elapsed <= 0) {
		snprintf(err, errlen, "no call completed after the warm-up");
		return -1;
	}
	r->unit = "calls/s";
	r->params = json_pack("{s:s, s:i, s:b}", "endpoint", "query_account", "concurrency",
			      (json_int_t)b->nslots, "keep_alive", 1);
	r->counts =
	    json_pack("{s:i, s:i, s:f}", "calls", (json_int_t)b->calls, "connections_opened",
		      (json_int_t)b->connections, "elapsed_ms", elapsed);
	r->figures = json_object();
	if (r->params == NULL || r->counts == NULL || r->figures == NULL ||
	    bench_figures_put(r->figures, (double)b->calls * 1e3 / elapsed, &b->lat) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
bench_tmsim_capacity(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	struct bench_tmsim b = {.o = o, .nslots = o->concurrency};
	struct tm_client_opts tmo;
	int rc = -1;

	bench_samples_init(&b.lat);
	if (b.nslots < 1 || b.nslots > BENCH_TMSIM_CONCURRENCY_MAX) {
		snprintf(err, errlen, "tmsim-capacity: --concurrency must be 1..%d",
			 BENCH_TMSIM_CONCURRENCY_MAX);
		goto out;
	}
	if (tm_client_opts_from_cfg(&tmo, o->cfg) != 0) {
		snprintf(err, errlen, "TMPROV_TM_URL and TMPROV_PARTNER_ID must be set");
		goto out;
	}
	if (bench_tmsim_urls(&b, &tmo, err, errlen) != 0)
		goto out;
	b.multi = curl_multi_init();
	/* One connection per slot, kept in the cache between a slot's calls. */
	if (b.multi == NULL ||
	    curl_multi_setopt(b.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, b.nslots) != CURLM_OK ||
	    curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, b.nslots) != CURLM_OK ||
	    bench_tmsim_slots(&b, &tmo) != 0) {
		snprintf(err, errlen, "cannot set up curl");
		goto out;
	}
	for (long i = 0; i < b.nslots; i++)
		if (bench_tmsim_start(&b, &b.slots[i]) != 0) {
			snprintf(err, errlen, "cannot start a transfer");
			goto out;
		}
	if (bench_tmsim_loop(&b) != 0) {
		snprintf(err, errlen, "curl multi: %s",
			 b.first_error[0] ? b.first_error : "transfer loop failed");
		goto out;
	}
	rc = bench_tmsim_result(&b, r, err, errlen);
out:
	bench_tmsim_free(&b);
	return rc;
}
