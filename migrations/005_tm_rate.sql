-- 005_tm_rate: the TM call budget of a consumer group, shared by all its workers and the CLI
-- (common/tmrate.c holds the one statement that refills from it), and each worker's view of TM
-- (circuit breaker, concurrency, rate) for `tmprov status --tm`.

-- One token bucket per consumer group: tokens left at refilled_at (server time); a taker adds
-- rate x elapsed, caps at the burst, takes what it may and stores the rest, all in one
-- statement under the row's lock. granted is the last taker's grant (returned by that
-- statement only).
CREATE TABLE tm_rate_bucket (
	grp text PRIMARY KEY,
	tokens double precision NOT NULL CHECK (tokens >= 0),
	granted integer NOT NULL DEFAULT 0 CHECK (granted >= 0),
	refilled_at timestamptz NOT NULL
);

-- What each running worker reports of its TM side, on every change and at least every few
-- seconds (updated_at): a row not updated for a while belongs to a worker gone.
CREATE TABLE tm_worker_state (
	worker text PRIMARY KEY,
	grp text NOT NULL,
	breaker text NOT NULL CHECK (breaker IN ('closed', 'open', 'half-open')),
	next_probe_at timestamptz,
	failures jsonb NOT NULL DEFAULT '[]'::jsonb,
	concurrency_limit integer NOT NULL,
	in_flight integer NOT NULL,
	rate_per_s double precision NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
