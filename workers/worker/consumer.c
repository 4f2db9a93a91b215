/* consumer: the worker's tm.commands consumer (see consumer.h). Offsets are committed only for
 * jobs whose result is durable, from the lowest offset not done; a revoke drains the revoked
 * partitions' jobs (bounded) before the partitions go. */
#include "consumer.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cfgkeys.h"
#include "kafka.h"
#include "log.h"
#include "clock.h"

#define COMMIT_INTERVAL_MS 200
/* Consumer lag and broker state come from librdkafka's statistics at this interval. */
#define STATS_INTERVAL_MS "5000"
/* A broker with nothing new holds a fetch for fetch.wait.max.ms (librdkafka default 500).
 * Kafka answers as soon as a message arrives, but librdkafka's mock cluster (tmprov-devkafka)
 * holds it the whole time, which at a few hundred commands/s puts that wait into every
 * command's latency; 10 ms costs an idle consumer about 100 small fetches a second against a
 * real broker. The prefetch is bounded by bytes, not messages: librdkafka 2.0.2 stops fetching
 * once its queue holds queued.min.messages or queued.max.messages.kbytes, and looks again only
 * when its broker thread next wakes — up to a second later. A bound of 1000 messages ran out in
 * half of that at 2,000 commands/s (the worker idle 300-450 ms about once a second, make bench);
 * 512 KiB (thousands of commands), fetched 64 KiB per partition at a time, does not, and keeps
 * held and paused partitions small. All can be set in TMPROV_KAFKA_PROPS. */
#define FETCH_WAIT_MS	      "10"
#define PREFETCH_MESSAGES     "100000"
#define PREFETCH_KBYTES	      "512"
#define FETCH_PARTITION_BYTES "65536"
/* After the drain timeout, how long jobs told to stop may take to return. */
#define ABANDON_GRACE_MS 5000

struct consumer {
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue; /* the consumer queue: events (rebalances, errors, stats) */
	rd_kafka_queue_t *msgq;	 /* every assigned partition's messages, forwarded here */
	struct dispatch *d;
	struct offsets *o;
	struct metrics *m;
	struct consumer_opts opts;
	char *topic;
	bool paused, stopping, reapply_pause;
	bool assigned_once; /* a first assignment came (sd_notify READY) */
	bool cooperative;   /* the group's rebalance protocol, as librdkafka last told it */
	bool closing;	    /* consumer_close is leaving the group (rebalance_cb) */
	const char *pause_why;
	atomic_bool holding; /* at the in-flight limit: messages wait in librdkafka */
	atomic_bool broker_up;
	long last_commit_ms;
	size_t *outstanding; /* per partition: jobs submitted and not yet reaped */
	size_t noutstanding;
	struct lease lease;   /* renewed by the loop; jobs call TM only while it holds (stop.h) */
	long fenced_until_ms; /* after a stall: no message taken, the lease lapsed, until then */
};

/* tmprov_rebalances_total's event label, each series there from the start. */
enum rebalance_event { REBALANCE_ASSIGN, REBALANCE_REVOKE, REBALANCE_LOST, REBALANCE_COUNT };
static const char *const rebalance_labels[REBALANCE_COUNT] = {"event=\"assign\"",
							      "event=\"revoke\"", "event=\"lost\""};

static void
rebalance_count(struct consumer *cs, enum rebalance_event ev, double n)
{
	if (cs->m)
		metrics_add(cs->m, "tmprov_rebalances_total", rebalance_labels[ev], n);
}

/* A partition no longer ours leaves tmprov_consumer_lag, so that sum() over the workers counts
 * each partition once (its new owner reports it). */
static void
lag_remove(struct consumer *cs, int32_t partition)
{
	char labels[48];

	snprintf(labels, sizeof(labels), "partition=\"%ld\"", (long)partition);
	if (cs->m)
		metrics_remove(cs->m, "tmprov_consumer_lag", labels);
}

/* Partitions of one rebalance, for matching jobs. */
struct pset {
	const char *topic;
	const bool *in;
	size_t n;
};

static int
outstanding_add(struct consumer *cs, int32_t partition, int delta)
{
	if (partition < 0)
		return -1;
	if ((size_t)partition >= cs->noutstanding) {
		size_t n = (size_t)partition + 1;
		size_t *p = realloc(cs->outstanding, n * sizeof(*p));

		if (!p)
			return -1;
		memset(p + cs->noutstanding, 0, (n - cs->noutstanding) * sizeof(*p));
		cs->outstanding = p;
		cs->noutstanding = n;
	}
	cs->outstanding[partition] += (size_t)delta;
	return 0;
}

/* Completed jobs: a done one releases its offset; all are freed. */
static void
reap(struct consumer *cs)
{
	struct job *j = dispatch_reap(cs->d), *next;

	for (; j; j = next) {
		next = j->qnext;
		if (j->result == JOB_DONE)
			offsets_done(cs->o, j);
		else
			log_debug("job %s [%d] @%lld %s: its offset stays uncommitted", j->topic,
				  j->partition, (long long)j->offset,
				  j->result == JOB_CANCELLED ? "cancelled" : "abandoned");
		outstanding_add(cs, j->partition, -1);
		job_free(j);
	}
}

/* tmprov_fetch_paused{reason="why"}: 1 while paused for that reason. */
static void
paused_metric(struct consumer *cs, const char *why, double v)
{
	char labels[160];

	if (why == NULL)
		return;
	snprintf(labels, sizeof(labels), "reason=\"%s\"", why);
	metrics_set(cs->m, "tmprov_fetch_paused", labels, v);
}

/* The pause state becomes (paused, why): the log line and the gauge say why. */
static void
pause_state(struct consumer *cs, bool paused, const char *why)
{
	if (cs->paused && cs->pause_why != why)
		paused_metric(cs, cs->pause_why, 0);
	if (paused)
		paused_metric(cs, why, 1);
	cs->paused = paused;
	cs->pause_why = paused ? why : NULL;
}

static void
set_paused(struct consumer *cs, bool pause, const char *why)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_resp_err_t rc;

	if (pause == cs->paused && !cs->reapply_pause) {
		if (pause && why != cs->pause_why)
			log_info("consumer: fetch stays paused: %s", why);
		pause_state(cs, pause, why);
		return;
	}
	rc = rd_kafka_assignment(cs->rk, &l);
	if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rc = pause ? rd_kafka_pause_partitions(cs->rk, l)
			   : rd_kafka_resume_partitions(cs->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warn("kafka: cannot %s the assignment: %s", pause ? "pause" : "resume",
			 rd_kafka_err2str(rc));
		return; /* tried again at the next maintain */
	}
	cs->reapply_pause = false;
	if (pause && why != cs->pause_why)
		log_info("consumer: pausing fetch: %s", why);
	else if (!pause && cs->paused)
		log_info("consumer: resuming fetch (was paused: %s)", cs->pause_why);
	pause_state(cs, pause, why);
}

/* The in-flight limit holds messages back instead of pausing: in librdkafka 2.0.2 fetching
 * restarts up to a second after a resume (measured: a backlog then drains at one limit's worth
 * per second), while a held partition queue just stops growing at queued.min.messages and
 * releases its messages at once. Pausing is for stops that last: shutdown, TM or PostgreSQL
 * down. */
static void
update_pause(struct consumer *cs)
{
	size_t inflight = dispatch_inflight(cs->d);
	const char *why = NULL;
	bool hold;

	hold = inflight >= cs->opts.max_inflight ||
	       (atomic_load(&cs->holding) && inflight >= cs->opts.resume_below);
	atomic_store(&cs->holding, hold);
	/* A job that finished between the count and the store found holding still false and did
	 * not wake the poll: look again now that it is set, or the poll would sleep its timeout
	 * while the jobs in flight drain (seen under load as a third of the throughput lost). */
	if (hold && dispatch_inflight(cs->d) < cs->opts.resume_below) {
		hold = false;
		atomic_store(&cs->holding, false);
	}
	if (cs->stopping)
		why = "shutting down";
	else if (cs->opts.gate && !cs->opts.gate(cs->opts.gate_arg, &why))
		why = why ? why : "a dependency is unavailable";
	set_paused(cs, why != NULL, why);
	metrics_set(cs->m, "tmprov_inflight", "", (double)inflight);
}

/* From dispatch_done() in a pool thread: the in-flight count fell to the resume mark, so a
 * poll blocked on events only may take messages again. */
static void
wake(void *arg)
{
	struct consumer *cs = arg;

	if (atomic_load(&cs->holding))
		rd_kafka_queue_yield(cs->queue);
}

static void
commit_async(struct consumer *cs)
{
	char err[256];

	if (offsets_commit(cs->o, cs->rk, NULL, true, err, sizeof(err)) < 0)
		log_warn("%s", err);
	cs->last_commit_ms = clock_now_ms();
}

/* The loop stalled past its lease (the process was stopped, or the loop blocked): the group may
 * have dropped this worker already, and librdkafka has not said so yet. Every job is stopped
 * or cancelled, and for one more lease nothing runs (no message is taken, the lease stays
 * lapsed): time for librdkafka's next heartbeat to report a lost assignment, whose revoke and
 * new assignment end the fence. Otherwise the partitions are still ours: they are read again
 * from their first unfinished offset, under a new epoch (fence_end). */
static void
fence(struct consumer *cs, long now, long stalled_ms)
{
	size_t cancelled = dispatch_cancel(cs->d, NULL, NULL), stopped;

	stopped = dispatch_stop(cs->d, NULL, NULL);
	cs->fenced_until_ms = now + cs->lease.lease_ms;
	log_warn(
	    "consumer: the loop stalled %ld ms (lease %ld ms): the group may have dropped this "
	    "worker; %zu running job(s) stopped, %zu queued cancelled, no TM call for %ld ms",
	    stalled_ms, cs->lease.lease_ms, stopped, cancelled, cs->lease.lease_ms);
}

/* The fence ended without a rebalance: the partitions are re-read from their first unfinished
 * offset (the jobs stopped by the fence left theirs uncommitted). */
static void
fence_end(struct consumer *cs)
{
	rd_kafka_topic_partition_list_t *l = NULL, *seek;
	rd_kafka_error_t *e;
	int64_t off;

	cs->fenced_until_ms = 0;
	log_info("consumer: no rebalance after the stall: reading the assignment again");
	if (rd_kafka_assignment(cs->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	seek = rd_kafka_topic_partition_list_new(l->cnt > 0 ? l->cnt : 1);
	for (int i = 0; i < l->cnt; i++) {
		if (strcmp(l->elems[i].topic, cs->topic) != 0 ||
		    (off = offsets_committable(cs->o, l->elems[i].partition)) < 0)
			continue;
		rd_kafka_topic_partition_list_add(seek, cs->topic, l->elems[i].partition)->offset =
		    off;
		offsets_revoke(cs->o, l->elems[i].partition);
		if (offsets_assign(cs->o, l->elems[i].partition) != 0)
			log_error("consumer: out of memory tracking %s [%d]", cs->topic,
				  l->elems[i].partition);
	}
	if (seek->cnt > 0 && (e = rd_kafka_seek_partitions(cs->rk, seek, 0)) != NULL) {
		log_error("consumer: seek after a stall: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	rd_kafka_topic_partition_list_destroy(seek);
	rd_kafka_topic_partition_list_destroy(l);
}

/* At every turn of the loop: a stall past the lease fences the jobs first (their stop flags
 * are set before a renewed lease can be seen, stop.h); while fenced, the lease is not renewed. */
static void
lease_renew(struct consumer *cs)
{
	long now = clock_now_ms(), stalled = now - atomic_load(&cs->lease.tick_ms);

	if (cs->fenced_until_ms == 0 && stalled >= cs->lease.lease_ms)
		fence(cs, now, stalled);
	if (cs->fenced_until_ms != 0 && now < cs->fenced_until_ms)
		return;
	if (cs->fenced_until_ms != 0)
		fence_end(cs);
	atomic_store(&cs->lease.tick_ms, now);
}

/* Inside a rebalance callback (a drain may take the drain timeout): the loop is alive, so a
 * lease still held is extended, and jobs of other partitions go on calling. A lapsed one stays
 * lapsed until lease_renew, after the poll, has fenced. */
static void
lease_extend(struct consumer *cs)
{
	long now = clock_now_ms();

	if (cs->fenced_until_ms == 0 && now - atomic_load(&cs->lease.tick_ms) < cs->lease.lease_ms)
		atomic_store(&cs->lease.tick_ms, now);
}

const struct lease *
consumer_lease(struct consumer *cs)
{
	return &cs->lease;
}

void
consumer_maintain(struct consumer *cs)
{
	lease_renew(cs);
	reap(cs);
	update_pause(cs);
	if (clock_now_ms() - cs->last_commit_ms >= COMMIT_INTERVAL_MS)
		commit_async(cs);
}

static bool
match_pset(const struct job *j, void *arg)
{
	const struct pset *ps = arg;

	return j->partition >= 0 && (size_t)j->partition < ps->n && ps->in[j->partition] &&
	       strcmp(j->topic, ps->topic) == 0;
}

static size_t
pset_outstanding(const struct consumer *cs, const struct pset *ps)
{
	size_t n = 0;

	for (size_t p = 0; p < ps->n && p < cs->noutstanding; p++)
		if (ps->in[p])
			n += cs->outstanding[p];
	return n;
}

/* deadline, or the shutdown's drain deadline when a shutdown began earlier: SIGTERM during a
 * revoke drain must not add a whole drain timeout of the shutdown's own after it. */
static long
drain_cap(const struct consumer *cs, long deadline)
{
	long since = cs->opts.stop_at_ms ? atomic_load(cs->opts.stop_at_ms) : 0;

	return since && since + cs->opts.drain_timeout_ms < deadline
		   ? since + cs->opts.drain_timeout_ms
		   : deadline;
}

/* What a synchronous commit may wait now: OFFSETS_COMMIT_WAIT_MS, less once a shutdown began
 * (until its drain deadline plus CONSUMER_CLOSE_GRACE_MS). */
static int
commit_wait_ms(const struct consumer *cs)
{
	long until = drain_cap(cs, LONG_MAX);

	return until == LONG_MAX
		   ? OFFSETS_COMMIT_WAIT_MS
		   : clock_ms_until(until + CONSUMER_CLOSE_GRACE_MS, 100, OFFSETS_COMMIT_WAIT_MS);
}

/* Waits (bounded by the drain timeout, then the stop grace) until no job of ps is left. */
static void
drain_partitions(struct consumer *cs, struct pset *ps)
{
	long deadline = clock_now_ms() + cs->opts.drain_timeout_ms;
	bool stopped = false;
	size_t left;

	for (;;) {
		long now;

		if (!stopped)
			deadline = drain_cap(cs, deadline);
		lease_extend(cs);
		reap(cs);
		left = pset_outstanding(cs, ps);
		if (!left)
			return;
		now = clock_now_ms();
		if (now >= deadline) {
			if (stopped) {
				log_warn("consumer: revoke: %zu job(s) still running: leaving them "
					 "uncommitted",
					 left);
				return;
			}
			log_warn("consumer: revoke: drain timeout: stopping %zu running job(s)",
				 dispatch_stop(cs->d, match_pset, ps));
			stopped = true;
			deadline = now + ABANDON_GRACE_MS;
			continue;
		}
		dispatch_wait_completed(cs->d, (int)(deadline - now < 100 ? deadline - now : 100));
	}
}

/* Revoke: jobs of the partitions not yet started are cancelled, running ones may finish, what is
 * done is committed, then the partitions' tracking ends. A lost assignment (the group dropped
 * this worker: session timeout, max.poll.interval.ms) already has another owner: its running
 * jobs are told to stop at once, before any further TM call, and nothing is committed. */
static void
revoke(struct consumer *cs, rd_kafka_topic_partition_list_t *parts, bool lost)
{
	struct pset ps = {cs->topic, NULL, 0};
	bool *in;
	size_t cancelled;
	char err[256];

	for (int i = 0; i < parts->cnt; i++)
		if ((size_t)parts->elems[i].partition + 1 > ps.n)
			ps.n = (size_t)parts->elems[i].partition + 1;
	in = calloc(ps.n ? ps.n : 1, sizeof(*in));
	if (!in) {
		log_error("consumer: revoke: out of memory: nothing committed");
		goto out;
	}
	for (int i = 0; i < parts->cnt; i++)
		if (strcmp(parts->elems[i].topic, cs->topic) == 0)
			in[parts->elems[i].partition] = true;
	ps.in = in;
	cancelled = dispatch_cancel(cs->d, match_pset, &ps);
	if (lost) {
		log_warn("consumer: assignment lost: %zu running job(s) stopped, %zu queued "
			 "cancelled; nothing committed",
			 dispatch_stop(cs->d, match_pset, &ps), cancelled);
		goto out;
	}
	drain_partitions(cs, &ps);
	if (offsets_commit_wait(cs->o, cs->rk, parts, commit_wait_ms(cs), err, sizeof(err)) < 0)
		log_warn("consumer: revoke: %s", err);
	log_info("consumer: revoked %d partition(s) (%zu queued job(s) cancelled)", parts->cnt,
		 cancelled);
out:
	for (int i = 0; i < parts->cnt; i++) {
		offsets_revoke(cs->o, parts->elems[i].partition);
		if (strcmp(parts->elems[i].topic, cs->topic) == 0)
			lag_remove(cs, parts->elems[i].partition);
	}
	rebalance_count(cs, lost ? REBALANCE_LOST : REBALANCE_REVOKE, 1);
	free(in);
}

/* tmprov_assigned_partitions: the partitions this worker holds after a rebalance. */
static void
assignment_gauge(struct consumer *cs)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	if (rd_kafka_assignment(cs->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	metrics_set(cs->m, "tmprov_assigned_partitions", "", (double)l->cnt);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Before the partitions start fetching: tracking, and their messages forwarded to msgq so
 * that the consumer queue carries events only. */
static void
assign(struct consumer *cs, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		rd_kafka_queue_t *q;

		if (strcmp(tp->topic, cs->topic) != 0)
			continue;
		if (offsets_assign(cs->o, tp->partition) != 0)
			log_error("consumer: out of memory tracking %s [%d]", cs->topic,
				  tp->partition);
		q = rd_kafka_queue_get_partition(cs->rk, tp->topic, tp->partition);
		if (!q) {
			/* Its messages then come through the consumer queue: still taken. */
			log_warn("consumer: no queue for %s [%d]", tp->topic, tp->partition);
			continue;
		}
		rd_kafka_queue_forward(q, cs->msgq);
		rd_kafka_queue_destroy(q); /* the forwarding stays */
	}
	log_info("consumer: assigned %d partition(s) of %s", parts->cnt, cs->topic);
	cs->assigned_once = true;
	/* A new generation of the group: what the fence waited for. */
	if (cs->fenced_until_ms != 0) {
		cs->fenced_until_ms = 0;
		atomic_store(&cs->lease.tick_ms, clock_now_ms());
	}
	atomic_store(&cs->broker_up, true);
}

/* Whether the group rebalances cooperatively; once consumer_close began, the answer librdkafka
 * gave last (see rebalance_cb). */
static bool
cooperative(struct consumer *cs)
{
	const char *protocol = cs->closing ? NULL : rd_kafka_rebalance_protocol(cs->rk);

	if (protocol != NULL)
		cs->cooperative = strcmp(protocol, "COOPERATIVE") == 0;
	return cs->cooperative;
}

/* An assignment: tracked, handed to librdkafka, held when fetching is paused. One that comes
 * while consumer_close leaves the group was already undone by librdkafka (its unsubscribe
 * rejoins instead of waiting for this call, and unassigns itself): it is not taken, and no call
 * is made — librdkafka 2.0.2 purges a terminating group's queues, and a request of ours caught
 * in them (an assign, a pause, rd_kafka_assignment) would wait for its answer forever (K10: a
 * group leave stuck so in rd_kafka_pause_partitions, until the exit guard). A lost assignment
 * keeps the call, which the group then does wait for. Returns what the assign call said. */
static rd_kafka_error_t *
rebalance_assign(struct consumer *cs, rd_kafka_topic_partition_list_t *parts, bool coop)
{
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t rc;

	if (cs->closing && !rd_kafka_assignment_lost(cs->rk)) {
		log_info("consumer: %d partition(s) assigned during the group leave: not taken",
			 parts->cnt);
		return NULL;
	}
	assign(cs, parts);
	rebalance_count(cs, REBALANCE_ASSIGN, 1);
	if (coop)
		e = rd_kafka_incremental_assign(cs->rk, parts);
	else if ((rc = rd_kafka_assign(cs->rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		e = rd_kafka_error_new(rc, "%s", rd_kafka_err2str(rc));
	if (cs->closing)
		return e;
	/* New partitions start fetching: hold them like the rest when paused. librdkafka keeps a
	 * partition's pause across its revoke and a later assignment: one paused (TM down),
	 * revoked, then assigned again after the resume would never be fetched (V1 with a
	 * rebalance during the outage: 706 commands never read). */
	rc = cs->paused ? rd_kafka_pause_partitions(cs->rk, parts)
			: rd_kafka_resume_partitions(cs->rk, parts);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn("kafka: cannot %s the new partitions: %s", cs->paused ? "pause" : "resume",
			 rd_kafka_err2str(rc));
	if (cs->paused || rc != RD_KAFKA_RESP_ERR_NO_ERROR)
		cs->reapply_pause = true; /* set_paused applies it to the whole assignment again */
	return e;
}

/* While consumer_close leaves the group, only the calls the group waits for (the unassign of a
 * revoke; see rebalance_assign): rd_kafka_rebalance_protocol and rd_kafka_assignment are such
 * requests too, and are not made. */
static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
	     void *opaque)
{
	struct consumer *cs = opaque;
	bool coop = cooperative(cs);
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		e = rebalance_assign(cs, parts, coop);
	} else {
		if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			log_error("consumer: rebalance error: %s", rd_kafka_err2str(err));
		revoke(cs, parts,
		       err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk));
		if (coop)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			rc = rd_kafka_assign(rk, NULL);
	}
	if (e) {
		log_error("consumer: rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (rc) {
		log_error("consumer: rebalance: %s", rd_kafka_err2str(rc));
	}
	if (!cs->closing)
		assignment_gauge(cs);
}

static void
commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
	  void *opaque)
{
	struct consumer *cs = opaque;
	int failed;

	(void)rk;
	/* A request that succeeded can still have failed for some partitions (issue 11, 13). */
	failed = offsets_commit_result(cs->o, err, parts);
	if (failed == 0)
		return;
	for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++)
		err = parts->elems[i].err;
	log_warn("kafka: offset commit of %d partition(s) failed: %s (committed again)", failed,
		 rd_kafka_err2str(err));
	if (cs->m)
		metrics_add(cs->m, "tmprov_commit_failures_total", "", failed);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct consumer *cs = opaque;
	char fatal[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		log_error("kafka %s: fatal error: %s", rd_kafka_name(rk), fatal);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		atomic_store(&cs->broker_up, false);
	log_warn("kafka %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

/* Lag per partition of our topic, and whether any real broker is UP. */
static int
stats_cb(rd_kafka_t *rk, char *text, size_t len, void *opaque)
{
	struct consumer *cs = opaque;
	json_t *root = json_loadb(text, len, 0, NULL), *parts, *brokers, *v;
	const char *key;
	char labels[48];
	bool up = false;

	(void)rk;
	if (!root)
		return 0;
	parts = json_object_get(json_object_get(json_object_get(root, "topics"), cs->topic),
				"partitions");
	json_object_foreach(parts, key, v)
	{
		json_t *lag = json_object_get(v, "consumer_lag");
		long p = strtol(key, NULL, 10);

		/* -1: the internal UA partition, or a lag librdkafka does not know. A partition
		 * revoked still appears in the statistics: its new owner reports it. */
		if (p < 0 || !json_is_integer(lag) || json_integer_value(lag) < 0 ||
		    !offsets_assigned(cs->o, (int32_t)p))
			continue;
		snprintf(labels, sizeof(labels), "partition=\"%ld\"", p);
		metrics_set(cs->m, "tmprov_consumer_lag", labels, (double)json_integer_value(lag));
	}
	brokers = json_object_get(root, "brokers");
	json_object_foreach(brokers, key, v)
	{
		const char *state = json_string_value(json_object_get(v, "state"));

		/* Brokers with nodeid -1 are the bootstrap and internal placeholders. */
		if (json_integer_value(json_object_get(v, "nodeid")) >= 0 && state &&
		    strcmp(state, "UP") == 0)
			up = true;
	}
	if (json_object_size(brokers))
		atomic_store(&cs->broker_up, up);
	json_decref(root);
	return 0; /* librdkafka frees text */
}

/* Whether TMPROV_KAFKA_PROPS changed name from librdkafka's default: a global property is read
 * from conf, a topic property (auto.offset.reset) from its default topic configuration. */
static bool
prop_changed(rd_kafka_conf_t *conf, const char *name)
{
	const rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf);
	rd_kafka_conf_t *ref = rd_kafka_conf_new();
	rd_kafka_topic_conf_t *tref = rd_kafka_topic_conf_new();
	char cur[256], def[256];
	size_t n1 = sizeof(cur), n2 = sizeof(def);
	bool changed = false;

	if (rd_kafka_conf_get(conf, name, cur, &n1) == RD_KAFKA_CONF_OK) {
		changed = rd_kafka_conf_get(ref, name, def, &n2) == RD_KAFKA_CONF_OK &&
			  strcmp(cur, def) != 0;
	} else if (tc && rd_kafka_topic_conf_get(tc, name, cur, &n1) == RD_KAFKA_CONF_OK) {
		changed = rd_kafka_topic_conf_get(tref, name, def, &n2) == RD_KAFKA_CONF_OK &&
			  strcmp(cur, def) != 0;
	}
	rd_kafka_topic_conf_destroy(tref);
	rd_kafka_conf_destroy(ref);
	return changed;
}

/* Sets name=value unless TMPROV_KAFKA_PROPS set it (to something else than the default). */
static int
set_default(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
	char rkerr[256];

	if (prop_changed(conf, name))
		return 0;
	if (rd_kafka_conf_set(conf, name, value, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "kafka: %s=%s: %s", name, value, rkerr);
		return -1;
	}
	return 0;
}

/* The consumer configuration: common/kafka's base (brokers, TMPROV_KAFKA_PROPS, logging), the
 * settings of kafka_consumer_new() (kafka.h), plus our callbacks and statistics. */
static rd_kafka_conf_t *
conf_build(struct consumer *cs, const struct cfg *c, char *err, size_t errlen)
{
	static const char *const fixed[][2] = {
	    {"group.id", NULL}, /* filled below */
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	};
	rd_kafka_conf_t *conf = kafka_conf_new(c, err, errlen);
	char rkerr[256];

	if (!conf)
		return NULL;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		const char *v = fixed[i][1] ? fixed[i][1] : cfg_str(c, &KEY_TMPROV_KAFKA_GROUP);

		if (rd_kafka_conf_set(conf, fixed[i][0], v, rkerr, sizeof(rkerr)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "kafka: %s: %s", fixed[i][0], rkerr);
			goto fail;
		}
	}
	/* Eager "range", though a member joining or leaving then stops every partition for the
	 * whole rebalance (on tmprov-devkafka, librdkafka's mock, for session.timeout.ms less 1 s:
	 * fault row K4). Debian's librdkafka 2.0.2 cannot run cooperative-sticky here: it aborts
	 * destroying a consumer stopped between its JoinGroup answer and its first assignment
	 * (a worker stopped while it joins: #4381, fixed in 2.3.0), and it takes a commit answered
	 * ILLEGAL_GENERATION during a rebalance for a lost assignment (#4059, fixed in 2.10.0),
	 * which the mock gives every commit sent while the member's JoinGroup waits. The rebalance
	 * callback handles both protocols. */
	if (set_default(conf, "partition.assignment.strategy", "range", err, errlen) ||
	    set_default(conf, "auto.offset.reset", "earliest", err, errlen) ||
	    set_default(conf, "statistics.interval.ms", STATS_INTERVAL_MS, err, errlen) ||
	    set_default(conf, "fetch.wait.max.ms", FETCH_WAIT_MS, err, errlen) ||
	    set_default(conf, "queued.min.messages", PREFETCH_MESSAGES, err, errlen) ||
	    set_default(conf, "queued.max.messages.kbytes", PREFETCH_KBYTES, err, errlen) ||
	    set_default(conf, "max.partition.fetch.bytes", FETCH_PARTITION_BYTES, err, errlen))
		goto fail;
	rd_kafka_conf_set_opaque(conf, cs);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static int
subscribe(struct consumer *cs, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t rc;

	rd_kafka_topic_partition_list_add(l, cs->topic, RD_KAFKA_PARTITION_UA);
	rc = rd_kafka_subscribe(cs->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (rc) {
		snprintf(err, errlen, "kafka: subscribe to %s: %s", cs->topic,
			 rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

/* Half the session timeout: a loop stalled that long may soon be, or already have been,
 * dropped from the group, whose coordinator hears no heartbeat from a stopped process. */
static void
lease_init(struct consumer *cs, const rd_kafka_conf_t *conf)
{
	char v[32];
	size_t n = sizeof(v);
	long ms = 45000; /* librdkafka's default session.timeout.ms */

	if (rd_kafka_conf_get(conf, "session.timeout.ms", v, &n) == RD_KAFKA_CONF_OK)
		ms = strtol(v, NULL, 10);
	cs->lease.lease_ms = ms > 1 ? ms / 2 : 1;
	atomic_init(&cs->lease.tick_ms, clock_now_ms());
}

struct consumer *
consumer_new(const struct cfg *c, struct dispatch *d, struct metrics *m,
	     const struct consumer_opts *opts, char *err, size_t errlen)
{
	struct consumer *cs = calloc(1, sizeof(*cs));
	rd_kafka_conf_t *conf;
	char rkerr[512];

	if (!cs || !(cs->topic = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_COMMANDS))) ||
	    !(cs->o = offsets_new(cs->topic))) {
		snprintf(err, errlen, "consumer: out of memory");
		goto fail;
	}
	cs->d = d;
	cs->m = m;
	cs->opts = *opts;
	if (cs->opts.resume_below < 1 || cs->opts.resume_below > cs->opts.max_inflight)
		cs->opts.resume_below = cs->opts.max_inflight;
	atomic_init(&cs->holding, false);
	atomic_init(&cs->broker_up, false);
	conf = conf_build(cs, c, err, errlen);
	if (!conf)
		goto fail;
	lease_init(cs, conf);
	cs->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
	if (!cs->rk) {
		snprintf(err, errlen, "kafka: cannot create consumer: %s", rkerr);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	/* Every callback (rebalance, commit, statistics, errors) is served by consumer_poll. */
	rd_kafka_poll_set_consumer(cs->rk);
	cs->queue = rd_kafka_queue_get_consumer(cs->rk);
	cs->msgq = rd_kafka_queue_new(cs->rk);
	if (subscribe(cs, err, errlen))
		goto fail;
	dispatch_on_low(d, cs->opts.resume_below - 1, wake, cs);
	for (int ev = 0; ev < REBALANCE_COUNT; ev++)
		rebalance_count(cs, (enum rebalance_event)ev, 0);
	cs->last_commit_ms = clock_now_ms();
	return cs;
fail:
	if (cs && cs->rk) {
		if (cs->queue)
			rd_kafka_queue_destroy(cs->queue);
		if (cs->msgq)
			rd_kafka_queue_destroy(cs->msgq);
		rd_kafka_destroy(cs->rk);
	}
	if (cs) {
		offsets_free(cs->o);
		free(cs->topic);
		free(cs);
	}
	return NULL;
}

/* A consumed message becomes a tracked, dispatched job. -1 on a failure that must stop the
 * worker (out of memory), with the offset left uncommittable. */
static int
take_message(struct consumer *cs, const rd_kafka_message_t *msg)
{
	struct job *j = job_new(msg);
	int rc;

	if (!j) {
		log_error("consumer: out of memory copying %s [%d] @%lld", cs->topic,
			  msg->partition, (long long)msg->offset);
		return -1;
	}
	rc = offsets_track(cs->o, j);
	if (rc == -1) {
		/* From a partition no longer ours, or already seen: its owner reads it. */
		log_debug("consumer: dropping %s [%d] @%lld: not tracked", j->topic, j->partition,
			  (long long)j->offset);
		job_free(j);
		return 0;
	}
	/* Tracked but never done: no commit goes past it even if we cannot go on. */
	if (rc < 0 || outstanding_add(cs, j->partition, 1) != 0) {
		log_error("consumer: out of memory tracking %s [%d]", j->topic, j->partition);
		job_free(j);
		return -1;
	}
	if (dispatch_submit(cs->d, j) != 0) {
		log_error("consumer: out of memory dispatching %s [%d]", j->topic, j->partition);
		outstanding_add(cs, j->partition, -1);
		job_free(j);
		return -1;
	}
	return 0;
}

static int
handle(struct consumer *cs, rd_kafka_message_t *msg)
{
	int rc = 0;

	if (msg->err) {
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warn("kafka: consume: %s", rd_kafka_message_errstr(msg));
		/* librdkafka left the group: the assignment is lost (its revoke follows), and no
		 * job calls TM for it from now on. */
		if (msg->err == RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED) {
			size_t cancelled = dispatch_cancel(cs->d, NULL, NULL);

			log_warn("consumer: max.poll.interval.ms exceeded: %zu running job(s) "
				 "stopped, %zu queued cancelled",
				 dispatch_stop(cs->d, NULL, NULL), cancelled);
		}
		rc = kafka_fatal(cs->rk) ? -1 : 0;
		goto out;
	}
	atomic_store(&cs->broker_up, true);
	rc = 1;
	/* After stop_fetching nothing new starts; these are read again after a restart. Lines
	 * about the message carry its partition and offset as fields. */
	log_ctx_position(msg->partition, (long long)msg->offset);
	if (!cs->stopping && take_message(cs, msg) != 0)
		rc = -1;
	log_ctx_clear();
out:
	rd_kafka_message_destroy(msg);
	return rc;
}

int
consumer_poll(struct consumer *cs, int timeout_ms)
{
	rd_kafka_message_t *msg;

	lease_renew(cs);
	/* Held, paused or fenced: wait on events only (a finishing job wakes this at the mark). */
	if (cs->paused || atomic_load(&cs->holding) || cs->fenced_until_ms != 0) {
		msg = rd_kafka_consumer_poll(cs->rk, timeout_ms);
		lease_renew(cs);
		if (msg)
			return handle(cs, msg);
		return kafka_fatal(cs->rk) ? -1 : 0;
	}
	/* Events first without waiting, then wait for a message; an event arriving meanwhile is
	 * served at the next call, at most timeout_ms later. */
	msg = rd_kafka_consumer_poll(cs->rk, 0);
	if (!msg)
		msg = rd_kafka_consume_queue(cs->msgq, timeout_ms);
	lease_renew(cs);
	if (msg)
		return handle(cs, msg);
	return kafka_fatal(cs->rk) ? -1 : 0;
}

void
consumer_stop_fetching(struct consumer *cs)
{
	cs->stopping = true;
	update_pause(cs);
}

bool
consumer_broker_up(const struct consumer *cs)
{
	return atomic_load(&((struct consumer *)cs)->broker_up);
}

/* Leaves the group through rd_kafka_consumer_close_queue, serving its rebalance callbacks,
 * until it is done or until_ms: librdkafka's blocking close has no bound (a silent coordinator,
 * a join round it waits out). Returns whether the close finished. */
static bool
close_within(struct consumer *cs, long until_ms)
{
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(cs->rk, cs->queue);
	rd_kafka_message_t *msg;

	long left;

	if (e != NULL) {
		log_warn("kafka: consumer close: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return false;
	}
	/* At least one poll: the close's revoke waits for rebalance_cb, and until it ran the
	 * group handler cannot end. */
	do {
		left = until_ms - clock_now_ms();
		/* Serves the revoke (rebalance_cb); a message now is not ours to take. */
		msg = rd_kafka_consumer_poll(cs->rk, left < 1 ? 0 : left < 100 ? (int)left : 100);
		if (msg != NULL)
			rd_kafka_message_destroy(msg);
		if (rd_kafka_consumer_closed(cs->rk))
			return true;
	} while (clock_now_ms() < until_ms);
	return false;
}

void
consumer_close(struct consumer *cs, long until_ms)
{
	char err[256];
	long start = clock_now_ms(), now;
	bool closed;

	if (!cs)
		return;
	dispatch_on_low(cs->d, 0, NULL, NULL);
	reap(cs);
	/* The final commit gets half of what is left, the group leave the rest. */
	if (offsets_commit_wait(
		cs->o, cs->rk, NULL,
		clock_ms_until(start + (until_ms - start) / 2, 100, OFFSETS_COMMIT_WAIT_MS), err,
		sizeof(err)) < 0)
		log_warn("%s", err);
	now = clock_now_ms();
	cs->closing = true;
	/* Leaving the group revokes the assignment through rebalance_cb, which commits again. */
	closed = close_within(
	    cs, until_ms > now + CONSUMER_CLOSE_MIN_MS ? until_ms : now + CONSUMER_CLOSE_MIN_MS);
	rd_kafka_queue_destroy(cs->msgq);
	rd_kafka_queue_destroy(cs->queue);
	/* Unfinished, the handle is left to the process's exit: rd_kafka_destroy, even with
	 * NO_CONSUMER_CLOSE, joins librdkafka's main thread, which ends only after the group
	 * handler, which waits for the commits and the leave in flight (a silent coordinator: up
	 * to socket.timeout.ms). Only log_cb, which keeps no pointer of ours, runs on its threads.
	 */
	if (closed)
		rd_kafka_destroy(cs->rk);
	else
		log_warn(
		    "kafka: consumer close unfinished after %ld ms: the group drops this member "
		    "at its session timeout",
		    clock_now_ms() - start);
	reap(cs);
	offsets_free(cs->o);
	free(cs->outstanding);
	free(cs->topic);
	free(cs);
}

bool
consumer_assigned_once(const struct consumer *cs)
{
	return cs->assigned_once;
}
