-- SPDX-License-Identifier: MIT
-- ChatAI schema 002: what the REST workers (chatai.fcgi) need on top of 001.
--
-- Every REST write is one statement, so that a request never leaves a transaction open
-- across round trips (a lost link mid-request cannot leave half a takeover behind). A
-- write of more than one row calls one of these functions (or 008's admin functions) and
-- every message goes through chatai_post_message(); single-row writes (a read position,
-- a session, a knowledge row deleted) are one plain statement in their fcgi/ handler. Refusals use their own SQLSTATEs, mapped to HTTP by fcgi/:
--   P0002  no such dialog (the same code chatai_post_message() raises)    -> 404
--   CA409  the action makes no sense in the dialog's state (e.g. closed)   -> 409

-- Visitor tokens are looked up by dialog id, operators' tokens by hash (unique index).
-- Old rate-limit windows are swept by window_start.
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);

CREATE FUNCTION chatai_assistant_json(a assistants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'name', a.name, 'greeting', a.greeting,
        'allowed_origins', to_jsonb(a.allowed_origins),
        'created_at', chatai_ts(a.created_at), 'updated_at', chatai_ts(a.updated_at))
$$;

CREATE FUNCTION chatai_knowledge_json(k knowledge) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', k.id, 'assistant_id', k.assistant_id,
                              'question', k.question, 'answer', k.answer,
                              'created_at', chatai_ts(k.created_at))
$$;

-- A widget opens a dialog: the row, the inbox event 'dialog_created', then the
-- assistant's greeting (sender 'ai') as message 1 when the greeting is not empty.
-- Returns the dialog id and the JSON array of the messages stored ([] or [greeting]).
CREATE FUNCTION chatai_rest_create_dialog(p_assistant bigint, p_token_hash text, p_visitor jsonb,
                                          OUT dialog_id bigint, OUT messages jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_greeting text;
    v_msg      jsonb;
BEGIN
    SELECT greeting INTO v_greeting FROM assistants WHERE id = p_assistant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assistant % does not exist', p_assistant USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO dialogs (assistant_id, visitor_token_hash, visitor)
    VALUES (p_assistant, p_token_hash, p_visitor)
    RETURNING id INTO dialog_id;
    PERFORM chatai_notify_dialog(dialog_id, 'dialog_created');
    messages := '[]'::jsonb;
    IF btrim(v_greeting) <> '' THEN
        SELECT p.message INTO v_msg FROM chatai_post_message(dialog_id, 'ai', v_greeting) p;
        messages := jsonb_build_array(v_msg);
    END IF;
END $$;

-- A visitor message. A retry with a known client_id returns the first message even
-- when the dialog has been closed since; a new message to a closed dialog is refused.
CREATE FUNCTION chatai_rest_visitor_post(p_dialog bigint, p_text text, p_client_id text,
                                         OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    d dialogs;
    l record;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, p_client_id) l;
    IF l.known IS NOT NULL THEN
        message := l.known;
        created := false;
        RETURN;
    END IF;
    d := l.d;
    IF d.status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    SELECT p.message, p.created INTO message, created
      FROM chatai_post_message(p_dialog, 'user', p_text, p_client_id) p;
END $$;

-- An operator reply. A dialog in status 'ai' or 'waiting' is taken over first
-- (operator_joined, in the same transaction) so the assistant never talks over a person.
CREATE FUNCTION chatai_rest_operator_post(p_dialog bigint, p_operator bigint, p_text text,
                                          p_client_id text, OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    d      dialogs;
    l      record;
    v_name text;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, p_client_id) l;
    IF l.known IS NOT NULL THEN
        message := l.known;
        created := false;
        RETURN;
    END IF;
    d := l.d;
    IF d.status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    IF d.status IN ('ai', 'waiting') THEN
        SELECT name INTO v_name FROM operators WHERE id = p_operator;
        PERFORM chatai_post_message(p_dialog, 'system', COALESCE(v_name, 'An operator') || ' joined the conversation',
                                    NULL, p_operator, 'operator_joined', 'operator', p_operator);
    END IF;
    SELECT p.message, p.created INTO message, created
      FROM chatai_post_message(p_dialog, 'manager', p_text, p_client_id, p_operator) p;
END $$;

-- Status changes asked over REST. p_action: 'takeover' | 'release' | 'close' (operator)
-- or 'handoff' (visitor). Returns the dialog JSON after the change.
--   takeover: ai/waiting/operator(someone else) -> operator_joined; already mine: no-op
--   release:  operator -> operator_left (status ai); otherwise CA409
--   close:    any open status -> dialog_closed; closed: CA409
--   handoff:  ai -> handoff_requested (waiting); waiting/operator: no-op
-- Every action on a closed dialog is CA409: closed is final (a returning visitor starts
-- a new dialog, as the widget does).
CREATE FUNCTION chatai_rest_status(p_dialog bigint, p_operator bigint, p_action text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d      dialogs;
    v_name text;
BEGIN
    SELECT * INTO d FROM dialogs WHERE id = p_dialog FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dialog % does not exist', p_dialog USING ERRCODE = 'P0002';
    END IF;
    IF d.status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    IF p_operator IS NOT NULL THEN
        SELECT name INTO v_name FROM operators WHERE id = p_operator;
    END IF;
    v_name := COALESCE(v_name, 'An operator');
    IF p_action = 'takeover' THEN
        IF NOT (d.status = 'operator' AND d.assigned_to IS NOT DISTINCT FROM p_operator) THEN
            PERFORM chatai_post_message(p_dialog, 'system', v_name || ' joined the conversation',
                                        NULL, p_operator, 'operator_joined', 'operator', p_operator);
        END IF;
    ELSIF p_action = 'release' THEN
        IF d.status <> 'operator' THEN
            RAISE EXCEPTION 'dialog % is not handled by an operator', p_dialog USING ERRCODE = 'CA409';
        END IF;
        PERFORM chatai_post_message(p_dialog, 'system', v_name || ' left the conversation',
                                    NULL, p_operator, 'operator_left', 'ai', NULL);
    ELSIF p_action = 'close' THEN
        PERFORM chatai_post_message(p_dialog, 'system', 'The conversation was closed',
                                    NULL, p_operator, 'dialog_closed', 'closed', NULL);
    ELSIF p_action = 'handoff' THEN
        IF d.status = 'ai' THEN
            PERFORM chatai_post_message(p_dialog, 'system', 'The visitor asked for a human operator',
                                        NULL, NULL, 'handoff_requested', 'waiting', NULL);
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown action %', p_action USING ERRCODE = '22023';
    END IF;
    SELECT * INTO d FROM dialogs WHERE id = p_dialog;
    RETURN chatai_dialog_json(d);
END $$;

-- Typing over REST: refused on a missing (P0002) or closed (CA409) dialog, never stored.
CREATE FUNCTION chatai_rest_typing(p_dialog bigint, p_who text, p_state text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM dialogs WHERE id = p_dialog;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dialog % does not exist', p_dialog USING ERRCODE = 'P0002';
    END IF;
    IF v_status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    PERFORM chatai_typing(p_dialog, p_who, p_state);
END $$;

-- Fixed-window rate limit: counts one hit of key in the window of p_window seconds that
-- holds now(). Returns the count so far and the seconds until the window ends.
-- About once per thousand hits, windows older than an hour are swept.
CREATE FUNCTION chatai_rate_hit(p_key text, p_window int, OUT hits int, OUT retry_after int)
LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz;
BEGIN
    v_start := to_timestamp(floor(extract(epoch FROM now()) / p_window) * p_window);
    INSERT INTO rate_limits AS r (key, window_start, count) VALUES (p_key, v_start, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
    RETURNING r.count INTO hits;
    retry_after := GREATEST(1, ceil(extract(epoch FROM (v_start + make_interval(secs => p_window) - now())))::int);
    IF random() < 0.001 THEN
        DELETE FROM rate_limits WHERE window_start < now() - interval '1 hour';
    END IF;
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (2, '002_rest.sql') ON CONFLICT (version) DO NOTHING;
