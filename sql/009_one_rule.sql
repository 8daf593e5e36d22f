-- SPDX-License-Identifier: MIT
-- ChatAI schema 009: one home per rule (issue 13).
--
-- "Operators online" had three definitions that disagreed: the widget's (fcgi/widget.c:
-- seen within 2 minutes and holding a live session), the assistant's
-- (chatai_ai_operators_online() of 004: seen within 2 minutes, a comment claiming it was
-- the widget's rule) and Redis's presence set (120 s after the operator's last request).
-- After a logout the widget said "offline" while the assistant still counted the operator
-- as online and skipped the offline notice.
--
-- The one definition: an operator is online when operators.last_seen_at is less than
-- 120 seconds old AND the operator holds a session that is neither revoked nor expired
-- (and is not disabled, 008; disabling revokes every session anyway).
-- last_seen_at moves on authenticated requests (at most once a minute, fcgi/auth.c), so an
-- operator with the panel open (it polls or holds a stream) stays online; a logout ends
-- the session, hence the presence, at once.
--
-- Who uses it: GET /api/widget/assistants/{id} (operators_online, fcgi/widget.c), the
-- offline notice of a handoff (chatai_ai_offline_notice() below) and, through 004's name,
-- the mail pass of 010 (an operator alert waits while one is online). Redis's chatai:presence
-- (redis_url set; common/credis.h) is a cache of it, not a second rule: an entry is
-- written on every authenticated request with a lifetime of the same 120 s
-- (CREDIS_PRESENCE_TTL) and removed at logout; the widget answers "online" when either
-- says so, so Redis only adds sightings the database has not recorded yet (the write of
-- last_seen_at is throttled), and may keep an operator whose session expired or was
-- revoked, rather than logged out, online for at most 120 s more.

CREATE OR REPLACE FUNCTION chatai_operators_online() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM operators o
         WHERE o.last_seen_at > now() - interval '120 seconds' AND o.disabled_at IS NULL
           AND EXISTS (SELECT 1 FROM sessions s
                        WHERE s.operator_id = o.id AND s.revoked_at IS NULL AND s.expires_at > now()))
$$;

-- 004's offline notice, unchanged but for the rule it asks.
CREATE OR REPLACE FUNCTION chatai_ai_offline_notice() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_status  text;
    v_offline text;
BEGIN
    IF chatai_operators_online() THEN
        RETURN NULL;
    END IF;
    SELECT d.status, a.offline_message INTO v_status, v_offline
      FROM dialogs d JOIN assistants a ON a.id = d.assistant_id
     WHERE d.id = NEW.dialog_id FOR UPDATE OF d;
    IF v_status IS DISTINCT FROM 'waiting' OR btrim(v_offline) = ''
       OR EXISTS (SELECT 1 FROM messages m WHERE m.dialog_id = NEW.dialog_id AND m.seq > NEW.seq
                                             AND m.event = 'offline_notice') THEN
        RETURN NULL;
    END IF;
    PERFORM chatai_post_message(NEW.dialog_id, 'system', v_offline, NULL, NULL, 'offline_notice', NULL, NULL);
    RETURN NULL;
END $$;

-- The second definition goes: 004's name now asks the one rule, for callers written
-- against it (010's mail pass, which holds an operator alert while one is online).
CREATE OR REPLACE FUNCTION chatai_ai_operators_online() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT chatai_operators_online()
$$;

-- Typing has one path for every writer (docs/scaleout.md, "Typing"): REST (fcgi), the
-- WebSocket streams (notifier) and the assistant worker. The dialog check (missing:
-- P0002, closed: CA409) lives here only; with redis_url set the writer asks it, then
-- PUBLISHes on chatai:ephemeral, and falls back to chatai_typing()'s NOTIFY when Redis is
-- down or nobody listens there. chatai_rest_typing() is the same check and the NOTIFY in
-- one call, for writers without Redis.
CREATE OR REPLACE FUNCTION chatai_typing_check(p_dialog bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_status    text;
    v_assistant bigint;
BEGIN
    SELECT status, assistant_id INTO v_status, v_assistant FROM dialogs WHERE id = p_dialog;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dialog % does not exist', p_dialog USING ERRCODE = 'P0002';
    END IF;
    IF v_status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    RETURN v_assistant;
END $$;

CREATE OR REPLACE FUNCTION chatai_rest_typing(p_dialog bigint, p_who text, p_state text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatai_typing_check(p_dialog);
    PERFORM chatai_typing(p_dialog, p_who, p_state);
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (9, '009_one_rule.sql') ON CONFLICT (version) DO NOTHING;
