-- 004_auth_reserve: the login throttle's count and the recording of an attempt as one step.
-- Counting failures and inserting one in two statements let parallel wrong passwords all pass
-- the count before any was recorded (50 guesses at once, limit 5: 8 hashes). In one statement
-- the race stays: a statement's snapshot is taken when it starts, so a count made after waiting
-- for a lock still misses what the lock holder inserted. A VOLATILE plpgsql function takes a
-- new snapshot for each of its statements, so the count below, made once the per-email lock is
-- held, sees every attempt committed before it.

-- Reserves one login attempt for email (already lowercased) if it has fewer than max_attempts
-- rows in auth_failures within the last window_ms: inserts the row (a failure until a
-- successful login deletes the email's rows) and returns true; otherwise returns false and
-- records nothing. The lock is the two-key form (class 0x746d6175, 'tmau'; the email's hash),
-- which shares no key with the one-key advisory locks the worker takes; two emails whose hashes
-- collide only wait for each other, for one short statement. It is released at commit, after
-- the insert is visible.
CREATE FUNCTION tmprov_auth_reserve(email text, window_ms bigint, max_attempts integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1953325429, hashtext(tmprov_auth_reserve.email));
	IF (SELECT count(*) FROM auth_failures f
	    WHERE f.email = tmprov_auth_reserve.email
	      AND f.failed_at > now() - window_ms * interval '1 millisecond') >= max_attempts THEN
		RETURN false;
	END IF;
	INSERT INTO auth_failures (email) VALUES (tmprov_auth_reserve.email);
	RETURN true;
END
$$;
