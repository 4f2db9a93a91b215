-- 007_reconcile: what `tmprov reconcile` last found for each account, and the operator's
-- resolution of a create parked with an unknown outcome (`tmprov resolve`).

-- One row per account checked: TM has no call that lists accounts, so drift (an operator's change
-- in TM's console, a lost update) is only found by querying each account; this keeps the last
-- answer. A separate table, not columns of accounts, so that a check does not move
-- accounts.updated_at (which says when our record changed).
CREATE TABLE account_checks (
	subject    text PRIMARY KEY REFERENCES accounts (subject),
	checked_at timestamptz NOT NULL,
	-- in_step: TM holds our four values; drifted: it differs in at least one (drift says
	-- where); missing: TM answered that the account does not exist; error: no usable answer.
	result     text NOT NULL CHECK (result IN ('in_step', 'drifted', 'missing', 'error')),
	-- [{"field": name as in account.create, "ours": value, "tm": value}, ...], in the order
	-- of account.create; [] unless drifted.
	drift      jsonb NOT NULL DEFAULT '[]'
		CHECK (jsonb_typeof(drift) = 'array' AND ((result = 'drifted') = (drift <> '[]'))),
	-- TM's four values as query_account returned them (NULL unless in_step or drifted).
	tm         jsonb,
	-- What went wrong (error), or TM's Reason (missing).
	detail     text CHECK (length(detail) <= 1024)
);
-- "Which accounts drifted", "which were not checked lately".
CREATE INDEX account_checks_result ON account_checks (result, checked_at);

-- A parked create (status unknown_outcome) an operator has resolved: the account was found in
-- TM and adopted (company_uid), or TM has none and the create was sent again (not_created).
-- resolved_as names the command that carries the resolution: ROOT.rN, numbered as `tmprov
-- replay` numbers its re-sends, so that a replay of the parked command afterwards is skipped.
-- The parked command keeps its status and its command.failed event: an event once written is
-- never changed (the outbox is append-only); the resolution has its own.
ALTER TABLE commands
	ADD COLUMN resolution text CHECK (resolution IN ('company_uid', 'not_created')),
	ADD COLUMN resolved_as text,
	ADD COLUMN resolved_at timestamptz,
	ADD CONSTRAINT commands_resolution CHECK (
		(resolution IS NULL AND resolved_as IS NULL AND resolved_at IS NULL)
		OR (resolution IS NOT NULL AND resolved_as IS NOT NULL AND resolved_at IS NOT NULL
		    AND status = 'unknown_outcome' AND type = 'account.create'));
