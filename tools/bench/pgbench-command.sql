-- pgbench-command.sql: the database work of one provisioning command, for `tmprov bench
-- pg-reference` (pgbench -M prepared -D clients=C -D subjects=S -D n=0). Written from
-- migrations/001_init.sql before the worker's SQL existed: one account.update that succeeded,
-- recorded in one transaction. Replace it with the worker's own statements when they land.
--
-- Each client owns its own subjects (client_id + clients * k), as a worker owns the subjects of
-- its partitions, so no two clients wait on one account row; n numbers a client's commands.
\set n :n + 1
\set subj :client_id + :clients * random(0, :subjects / :clients - 1)
BEGIN;
-- The idempotency record: a redelivered id would find its row here.
INSERT INTO commands (id, subject, type, body_sha256, status, attempts, kafka_topic,
		      kafka_partition, kafka_offset)
VALUES ('cmd-' || :client_id::text || '-' || :n::text, 'subject-' || :subj::text,
	'account.update', sha256(convert_to('body-' || :client_id::text || '-' || :n::text, 'UTF8')),
	'in_progress', 1, 'tm.commands', :client_id::int % 12, :n::bigint)
ON CONFLICT (id) DO NOTHING;
-- The account as TM now holds it.
INSERT INTO accounts (subject, company_uid, company_name, email, rooms, participants)
VALUES ('subject-' || :subj::text, 'uid-' || :subj::text, 'Company ' || :n::text,
	'ops' || :subj::text || '@bench.example', 2, 25)
ON CONFLICT (subject) DO UPDATE
SET company_name = EXCLUDED.company_name, email = EXCLUDED.email, rooms = EXCLUDED.rooms,
    participants = EXCLUDED.participants;
-- The audit row of the TM call.
INSERT INTO tm_calls (command_id, endpoint, url, outcome, http_status, tm_status, duration_ms,
		      started_at)
VALUES ('cmd-' || :client_id::text || '-' || :n::text, 'update_account',
	'http://tm.bench.example/as/wapi/service/update_account?service_company_uid=REDACTED'
	|| '&company_uid=uid-' || :subj::text || '&company_name=Company%20' || :n::text
	|| '&email=ops' || :subj::text || '%40bench.example&number_of_meeting_room=2'
	|| '&number_of_participant=25', 'ok', 200, 'SUCCEED', 3, now());
-- The outcome event, published later from the outbox.
INSERT INTO outbox (event_id, command_id, type, subject, payload)
VALUES ('evt-' || :client_id::text || '-' || :n::text,
	'cmd-' || :client_id::text || '-' || :n::text, 'account.updated',
	'subject-' || :subj::text,
	jsonb_build_object('specversion', '1.0', 'id', 'evt-' || :client_id::text || '-' || :n::text,
			   'source', 'tmprov', 'type', 'account.updated',
			   'subject', 'subject-' || :subj::text, 'time', now(),
			   'commandid', 'cmd-' || :client_id::text || '-' || :n::text,
			   'datacontenttype', 'application/json',
			   'data', jsonb_build_object('company_name', 'Company ' || :n::text,
						      'email', 'ops' || :subj::text || '@bench.example',
						      'rooms', 2, 'participants', 25,
						      'company_uid', 'uid-' || :subj::text)));
-- The command's end state.
UPDATE commands SET status = 'succeeded', last_error = NULL, retryable = NULL
WHERE id = 'cmd-' || :client_id::text || '-' || :n::text;
COMMIT;
