-- 001_init: the state tmprov-worker and tmprov-callback share.
-- The worker turns Kafka commands into TM calls and records each result, with its outcome event,
-- in one transaction; the callback server reads users, accounts, meetings and sessions.
-- `tmprov migrate` runs this file inside one transaction, so it must not BEGIN or COMMIT itself.

-- Every table's updated_at is kept by the database, so no code path can forget it.
CREATE FUNCTION tmprov_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- One row per customer of the partner. subject is the partner-side reference the billing system
-- uses; company_uid is TM's id for the same account, known only once create_account succeeded
-- (an account whose creation is in doubt lives in tm_intents, not here).
CREATE TABLE accounts (
	subject      text PRIMARY KEY CHECK (length(subject) BETWEEN 1 AND 200),
	-- "up to 36-character ID" (spec, section 2).
	company_uid  text NOT NULL UNIQUE CHECK (length(company_uid) BETWEEN 1 AND 36),
	-- Our record of the four values TM holds; update_account must resend all four, and
	-- account.query reports drift against them.
	company_name text NOT NULL,
	email        text NOT NULL,
	rooms        integer NOT NULL CHECK (rooms >= 0),
	participants integer NOT NULL CHECK (participants >= 0),
	status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now(),
	-- Deleted accounts are kept (soft delete) so that a late command for the subject finds out
	-- the account is gone instead of creating a second one by accident.
	deleted_at   timestamptz,
	CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tmprov_touch_updated_at();

-- Users who log in to TM through us (spec section 6). They exist only here: TM asks the callback
-- server to authenticate them. user_id is what remote_schedule and the auth answer carry, unique
-- within its account.
CREATE TABLE users (
	subject           text NOT NULL REFERENCES accounts (subject),
	user_id           text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 200),
	email             text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
	first_name        text NOT NULL DEFAULT '',
	last_name         text NOT NULL DEFAULT '',
	-- Only a salted memory-hard verifier of the credential TM sends, as libsodium's argon2id PHC
	-- string. The CHECK makes it impossible to store a plain or fast-hashed password here by
	-- mistake; there is deliberately no other column that could hold one.
	password_verifier text NOT NULL
		CHECK (password_verifier LIKE '$argon2id$v=19$%' AND length(password_verifier) <= 512),
	status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
	created_at        timestamptz NOT NULL DEFAULT now(),
	updated_at        timestamptz NOT NULL DEFAULT now(),
	deleted_at        timestamptz,
	PRIMARY KEY (subject, user_id),
	CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
-- TM authenticates by email alone, so an email must name one user across the whole partner, and
-- TM may send it in any case. Only live users count: a deleted user's address can be reused.
-- The callback's lookup is `lower(email) = lower($1) AND status = 'active'`, which this serves.
CREATE UNIQUE INDEX users_email_active ON users (lower(email)) WHERE status = 'active';
CREATE TRIGGER users_touch BEFORE UPDATE ON users
	FOR EACH ROW EXECUTE FUNCTION tmprov_touch_updated_at();

-- Every command the worker has seen, keyed by its CloudEvents id (the idempotency key). A
-- redelivered id is answered from here instead of calling TM again.
CREATE TABLE commands (
	id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
	-- NULL only for a rejected command that did not carry a usable subject or type.
	subject         text,
	type            text,
	-- sha256 of the message body: the same id re-sent with a different body is refused rather
	-- than mistaken for a redelivery.
	body_sha256     bytea NOT NULL CHECK (length(body_sha256) = 32),
	status          text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'in_progress',
		'succeeded', 'failed', 'rejected', 'unknown_outcome')),
	attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	last_error      text,
	retryable       boolean,
	-- Where the command was read, for operators tracing a message back to the topic.
	kafka_topic     text,
	kafka_partition integer CHECK (kafka_partition >= 0),
	kafka_offset    bigint CHECK (kafka_offset >= 0),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	CHECK (status = 'rejected' OR (subject IS NOT NULL AND type IS NOT NULL))
);
-- A subject's history in order (operators, and the worker checking ordering per subject).
CREATE INDEX commands_subject ON commands (subject, created_at);
-- Commands not finished: a restarted worker or an operator looks for these; the partial index
-- stays small because almost every command ends succeeded, failed or rejected.
CREATE INDEX commands_open ON commands (updated_at)
	WHERE status IN ('received', 'in_progress', 'unknown_outcome');
CREATE TRIGGER commands_touch BEFORE UPDATE ON commands
	FOR EACH ROW EXECUTE FUNCTION tmprov_touch_updated_at();

-- Meetings scheduled with remote_schedule, listed to TM by the callback server (section 11).
CREATE TABLE meetings (
	-- TM's __MeetingID__; meeting.cancel names a meeting by it alone.
	meeting_id         text PRIMARY KEY CHECK (length(meeting_id) BETWEEN 1 AND 100),
	subject            text NOT NULL,
	user_id            text NOT NULL,
	topic              text NOT NULL,
	start_time         timestamptz NOT NULL,
	join_url           text NOT NULL,
	-- Set when remote_schedule was repeated after an ambiguous attempt: TM may hold a twin.
	possible_duplicate boolean NOT NULL DEFAULT false,
	-- The meeting.schedule command that created it.
	command_id         text REFERENCES commands (id),
	created_at         timestamptz NOT NULL DEFAULT now(),
	-- meeting.cancel only hides the meeting from the list: TM has no call to delete it.
	canceled_at        timestamptz,
	FOREIGN KEY (subject, user_id) REFERENCES users (subject, user_id)
);
-- The callback's meeting list: one user's live meetings by start time.
CREATE INDEX meetings_user_start ON meetings (subject, user_id, start_time)
	WHERE canceled_at IS NULL;
CREATE INDEX meetings_command ON meetings (command_id);

-- A row committed *before* a TM call that is not safe to repeat (create_account,
-- remote_schedule), and resolved in the same transaction as the call's result. After a crash an
-- intent still unresolved means the call may have reached TM: its outcome is unknown.
CREATE TABLE tm_intents (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	command_id  text NOT NULL REFERENCES commands (id),
	endpoint    text NOT NULL CHECK (endpoint IN ('create_account', 'update_account',
		'delete_account', 'query_account', 'remote_schedule')),
	attempt     integer NOT NULL CHECK (attempt >= 1),
	created_at  timestamptz NOT NULL DEFAULT now(),
	resolved_at timestamptz,
	UNIQUE (command_id, attempt)
);
-- At most one call in flight per command: a second unresolved intent would mean two workers
-- are calling TM for the same command.
CREATE UNIQUE INDEX tm_intents_unresolved ON tm_intents (command_id) WHERE resolved_at IS NULL;

-- Audit: one row per HTTP attempt to TM, written with the command's result.
CREATE TABLE tm_calls (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	command_id  text NOT NULL REFERENCES commands (id),
	endpoint    text NOT NULL CHECK (endpoint IN ('create_account', 'update_account',
		'delete_account', 'query_account', 'remote_schedule')),
	-- The request URL with every secret parameter value replaced; never the raw URL.
	url         text NOT NULL,
	-- The classes of DESIGN.md section 3, spelt as tm_outcome_name() spells them: ok, failed
	-- (business failure: FAILED or 4xx), not_sent (safe to repeat), ambiguous (sent, no
	-- answer), transient (5xx, 429, unparseable).
	outcome     text NOT NULL CHECK (outcome IN ('ok', 'failed', 'not_sent', 'ambiguous',
		'transient')),
	-- NULL when no HTTP answer came.
	http_status integer CHECK (http_status BETWEEN 100 AND 599),
	tm_status   text,
	reason      text,
	duration_ms integer NOT NULL CHECK (duration_ms >= 0),
	started_at  timestamptz NOT NULL
);
CREATE INDEX tm_calls_command ON tm_calls (command_id, started_at);

-- Transactional outbox: each outcome event is written in the transaction that made the change
-- it reports, and a publisher copies it to tm.events. Append-only: the publisher marks
-- published_at, nothing deletes (enforced below), so an event once written is kept.
CREATE TABLE outbox (
	-- Publication order; bigserial so that order survives across workers.
	seq          bigserial PRIMARY KEY,
	-- The CloudEvents id of the outcome; a re-publish sends the same id.
	event_id     text NOT NULL UNIQUE,
	-- Exactly one outcome per command.
	command_id   text NOT NULL UNIQUE REFERENCES commands (id),
	type         text NOT NULL,
	-- The Kafka key; NULL only for the rejection of a command that had no subject.
	subject      text,
	payload      jsonb NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	published_at timestamptz
);
-- What the publisher polls: small, since published rows leave the index.
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Refuses DELETE and any UPDATE other than setting published_at once: the event log cannot be
-- rewritten by a bug. (TRUNCATE, an operator's deliberate act, is not affected.)
CREATE FUNCTION tmprov_outbox_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'outbox is append-only: rows are never deleted'
			USING ERRCODE = 'restrict_violation';
	END IF;
	IF OLD.published_at IS NOT NULL
	   OR (NEW.seq, NEW.event_id, NEW.command_id, NEW.type, NEW.subject, NEW.payload,
	       NEW.created_at)
	      IS DISTINCT FROM (OLD.seq, OLD.event_id, OLD.command_id, OLD.type, OLD.subject,
	                        OLD.payload, OLD.created_at) THEN
		RAISE EXCEPTION 'outbox is append-only: only an unpublished row''s published_at may be set'
			USING ERRCODE = 'restrict_violation';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER outbox_append_only BEFORE UPDATE OR DELETE ON outbox
	FOR EACH ROW EXECUTE FUNCTION tmprov_outbox_append_only();

-- Login sessions behind QueryScheduledMeetingURL. Only the sha256 of the token is stored, so a
-- copy of the database does not yield usable URLs.
CREATE TABLE sessions (
	token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
	subject      text NOT NULL,
	user_id      text NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	-- Sliding expiry: each use moves expires_at forward.
	expires_at   timestamptz NOT NULL,
	last_used_at timestamptz NOT NULL DEFAULT now(),
	CHECK (expires_at > created_at),
	-- Sessions are disposable: removing a user removes them.
	FOREIGN KEY (subject, user_id) REFERENCES users (subject, user_id) ON DELETE CASCADE
);
-- Ending all sessions of a user (user.delete) or of an account (account.delete).
CREATE INDEX sessions_user ON sessions (subject, user_id);
-- Purging expired sessions.
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed logins, for the per-email throttle of the callback server. The email is stored
-- lowercased so that case variants count together.
CREATE TABLE auth_failures (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email     text NOT NULL CHECK (email = lower(email) AND length(email) <= 320),
	failed_at timestamptz NOT NULL DEFAULT now()
);
-- "How many failures for this email since T": the throttle's question.
CREATE INDEX auth_failures_email ON auth_failures (email, failed_at);
-- Purging old failures.
CREATE INDEX auth_failures_failed_at ON auth_failures (failed_at);
