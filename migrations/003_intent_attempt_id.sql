-- 003_intent_attempt_id: an intent names the attempt that wrote it. The worker draws a random id
-- for each attempt before recording its intent; when the commit of that intent landed but its
-- acknowledgement was lost (the connection dropped after the sync), the retry records the same
-- attempt_id again and must be told "yours", not "another call is open" (which would park a
-- create or mark a schedule possible_duplicate though nothing was sent). Not a secret: it only
-- tells two recordings apart. NULL for intents written before this migration.
ALTER TABLE tm_intents ADD COLUMN attempt_id text
	CHECK (attempt_id IS NULL OR length(attempt_id) BETWEEN 16 AND 64);
