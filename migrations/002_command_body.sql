-- 002_command_body: keeps the message of a command an operator may have to re-send.
-- `tmprov replay` re-sends failed-retryable and unknown-outcome commands under a new id; for
-- those found in the database (rather than on tm.commands.dlq) it needs the original message.
-- The worker stores it only for such results, and never for user.upsert, whose message may hold
-- a plain password: every other command type carries nothing secret.
ALTER TABLE commands ADD COLUMN body text
	CHECK (body IS NULL OR (status IN ('failed', 'unknown_outcome') AND length(body) <= 65536));

-- What `tmprov replay` selects: small, since almost every command ends succeeded.
CREATE INDEX commands_replayable ON commands (updated_at)
	WHERE status = 'unknown_outcome' OR (status = 'failed' AND retryable);
