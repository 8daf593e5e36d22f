-- SPDX-License-Identifier: MIT
-- ChatAI schema 011: a new password ends the other sessions (issue 14).
--
-- 008's chatai_operator_update() revoked sessions only on a disable. A password set by an
-- admin (PATCH /api/operators/{id}, chatai-ctl operator passwd) now revokes every session
-- of the operator, and one set by the operator (PATCH /api/me) every session but the one
-- that asked (p_keep_session), in the same transaction as the new hash: the trigger
-- sessions_changed (005) tells the REST caches and the notifier, which closes the
-- streams of those sessions with 4401. The old password stops working at the same time.
-- One more argument, so the function is dropped and made again (callers that pass five
-- arguments are unchanged).

DROP FUNCTION chatai_operator_update(bigint, text, text, boolean, text);

-- Change an operator; NULL leaves a field as it is. p_disabled true disables, false
-- enables; p_hash sets a new password hash. A disable or a new password revokes the
-- operator's open sessions, except p_keep_session on a password change (never on a
-- disable). Demoting or disabling the last active admin is CA409. Every change of role
-- or disabled state takes one transaction-wide advisory lock first, so two such changes
-- never both pass the check. Returns the operator's JSON and the ids of the sessions
-- revoked now.
CREATE OR REPLACE FUNCTION chatai_operator_update(p_id bigint, p_name text, p_role text, p_disabled boolean,
                                                  p_hash text, p_keep_session bigint DEFAULT NULL,
                                                  OUT operator jsonb, OUT revoked bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    o operators;
BEGIN
    IF p_role IS NOT NULL AND p_role NOT IN ('admin', 'operator') THEN
        RAISE EXCEPTION 'role: must be admin or operator' USING ERRCODE = 'CA400';
    END IF;
    IF p_role IS NOT NULL OR p_disabled IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('chatai_operator_admins'));
    END IF;
    SELECT * INTO o FROM operators WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'operator % does not exist', p_id USING ERRCODE = 'P0002';
    END IF;
    IF o.role = 'admin' AND o.disabled_at IS NULL
       AND (COALESCE(p_role, 'admin') <> 'admin' OR COALESCE(p_disabled, false))
       AND NOT EXISTS (SELECT 1 FROM operators x WHERE x.role = 'admin' AND x.disabled_at IS NULL
                                                 AND x.id <> p_id) THEN
        RAISE EXCEPTION 'the last active admin cannot be disabled or demoted' USING ERRCODE = 'CA409';
    END IF;
    UPDATE operators SET name = COALESCE(p_name, name), role = COALESCE(p_role, role),
           password_hash = COALESCE(p_hash, password_hash),
           disabled_at = CASE WHEN p_disabled IS NULL THEN disabled_at
                              WHEN p_disabled THEN COALESCE(disabled_at, now()) ELSE NULL END
     WHERE id = p_id RETURNING * INTO o;
    revoked := '{}';
    IF COALESCE(p_disabled, false) OR p_hash IS NOT NULL THEN
        WITH r AS (UPDATE sessions SET revoked_at = now()
                    WHERE operator_id = p_id AND revoked_at IS NULL
                      AND (COALESCE(p_disabled, false) OR id IS DISTINCT FROM p_keep_session)
                    RETURNING id)
        SELECT COALESCE(array_agg(id), '{}') INTO revoked FROM r;
    END IF;
    operator := chatai_operator_json(o);
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (11, '011_password_revoke.sql') ON CONFLICT (version) DO NOTHING;
