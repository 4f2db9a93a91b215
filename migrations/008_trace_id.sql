-- 008_trace_id: the W3C trace id of each command and of each TM attempt, so that an operator can
-- follow one trace from the producer's traceparent through the worker's log lines (trace_id),
-- these audit rows, the outcome event (its traceparent attribute) and a DLQ copy (header
-- tmprov.traceparent). It is the command's own trace id (Kafka header traceparent, else its
-- CloudEvents traceparent attribute), or a new random one when it had no valid one. NULL for rows
-- written before this migration.
ALTER TABLE commands ADD COLUMN trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');
ALTER TABLE tm_calls ADD COLUMN trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');

-- An operator's lookup by trace id.
CREATE INDEX commands_trace ON commands (trace_id) WHERE trace_id IS NOT NULL;
