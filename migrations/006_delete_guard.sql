-- 006_delete_guard: the mass-delete guard. More than TMPROV_DELETE_GUARD account deletions within
-- TMPROV_DELETE_GUARD_WINDOW, counted for the whole consumer group here, hold every further
-- account.delete until an operator approves or rejects it (`tmprov held|approve|reject`).
--
-- A held command, and every later command of its subject (which must wait behind it: order per
-- subject), is kept here with its message so that Kafka offsets keep moving for other subjects:
-- its offset is committed like any other. Such rows form the subject's queue, in queue_seq
-- order; the worker that consumes the subject's next message (a new command, or the copy of
-- the held message `tmprov approve` or `reject` sends to wake it) runs the queue from its head
-- until it meets a held command.

-- held:    an account.delete the guard stopped; not executed, not failed. One command.held
--          event says why; its outcome comes later (approved: executed; rejected: command.failed).
-- waiting: a command behind a held one of its subject (or one approved, not yet run).
ALTER TABLE commands DROP CONSTRAINT commands_status_check;
ALTER TABLE commands ADD CONSTRAINT commands_status_check CHECK (status IN ('received',
	'in_progress', 'succeeded', 'failed', 'rejected', 'unknown_outcome', 'held', 'waiting'));
-- A queued command's message must be kept until it runs (a user.upsert's plain password is
-- replaced by its argon2id digest before it is stored: workers/worker/guard.c).
-- 002's CHECK names two columns, so PostgreSQL chose its name: it is found by what it checks.
DO $$
DECLARE
	name text;
BEGIN
	SELECT conname INTO STRICT name FROM pg_constraint
	WHERE conrelid = 'commands'::regclass AND contype = 'c'
	  AND pg_get_constraintdef(oid) LIKE '%length(body)%';
	EXECUTE format('ALTER TABLE commands DROP CONSTRAINT %I', name);
END
$$;
-- Position in its subject's queue; set when the command was held or made to wait, and kept
-- (as history) once it ran.
ALTER TABLE commands ADD COLUMN queue_seq bigint;
-- A queued command that a worker has started (in_progress) keeps its message until its result
-- is written, so that a crash in between finds it again.
ALTER TABLE commands ADD CONSTRAINT commands_body_check CHECK (body IS NULL OR
	(length(body) <= 65536 AND (status IN ('failed', 'unknown_outcome', 'held', 'waiting')
	 OR (queue_seq IS NOT NULL AND status IN ('received', 'in_progress')))));
-- When an operator approved the held command: it then runs without asking the guard.
ALTER TABLE commands ADD COLUMN approved_at timestamptz;
CREATE SEQUENCE commands_queue_seq;
-- The subject's queue: what the worker and `tmprov held` read. Small: only commands not yet run.
CREATE INDEX commands_queued ON commands (subject, queue_seq)
	WHERE queue_seq IS NOT NULL AND status IN ('held', 'waiting', 'received', 'in_progress');

-- One outcome event per command, plus at most one interim command.held before it: the
-- outcome's id derives from "outcome:" + command id, the held event's from "held:" + command id.
ALTER TABLE outbox DROP CONSTRAINT outbox_command_id_key;
CREATE UNIQUE INDEX outbox_one_outcome ON outbox (command_id) WHERE type <> 'command.held';
CREATE UNIQUE INDEX outbox_one_held ON outbox (command_id) WHERE type = 'command.held';

-- Each account deletion the guard let through (or an operator approved), for the count.
-- No foreign key: an idempotent call's commands row is written only with its result.
CREATE TABLE delete_guard_takes (
	command_id text PRIMARY KEY,
	taken_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delete_guard_takes_at ON delete_guard_takes (taken_at);

-- Counts the deletions of the last window_ms and takes one for command_id when fewer than
-- max_deletes were taken (or force: an approved command), as one step: under one advisory lock
-- (two-key form, class 0x746d6467 'tmdg', key 0, shared with no other lock), and, as in 004, a
-- VOLATILE plpgsql function whose count takes a new snapshot after the lock is held, so two
-- workers counting at once cannot both pass the limit. A command that took one already (a
-- retry) is let through again without a second row. deletions: the count seen before taking.
-- Rows a day older than the window count for nothing and are purged on the way (an index range
-- scan that is empty but once a day's worth).
CREATE FUNCTION tmprov_delete_guard_take(command_id text, window_ms bigint, max_deletes integer,
	force boolean, OUT taken boolean, OUT deletions bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1953326183, 0);
	DELETE FROM delete_guard_takes t
	WHERE t.taken_at < clock_timestamp() - window_ms * interval '1 millisecond' - interval '1 day';
	SELECT count(*) INTO deletions FROM delete_guard_takes t
	WHERE t.taken_at > clock_timestamp() - window_ms * interval '1 millisecond';
	IF EXISTS (SELECT 1 FROM delete_guard_takes t
	           WHERE t.command_id = tmprov_delete_guard_take.command_id) THEN
		taken := true;
		RETURN;
	END IF;
	IF NOT force AND deletions >= max_deletes THEN
		taken := false;
		RETURN;
	END IF;
	INSERT INTO delete_guard_takes (command_id, taken_at)
	VALUES (tmprov_delete_guard_take.command_id, clock_timestamp());
	taken := true;
END
$$;
