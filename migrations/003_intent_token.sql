-- 003_intent_token: an intent names the attempt that wrote it. The worker draws a random token
-- for each attempt before recording its intent; when the commit of that intent landed but its
-- acknowledgement was lost (the connection dropped after the sync), the retry records the same
-- token again and must be told "yours", not "another call is open" (which would park a create
-- or mark a schedule possible_duplicate though nothing was sent). NULL for intents written
-- before this migration.
ALTER TABLE tm_intents ADD COLUMN token text CHECK (token IS NULL OR length(token) BETWEEN 16 AND 64);
