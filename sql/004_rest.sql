-- SPDX-License-Identifier: MIT
-- ChatAI: what the REST workers (chatai.fcgi) call to write.
--
-- Every REST write is one statement, so that a request never leaves a transaction open
-- across round trips (a lost link mid-request cannot leave half a takeover behind). A
-- write of more than one row calls one of these functions (or those of 006_admin.sql) and
-- every message goes through chatai_post_message(); single-row writes (a read position,
-- a session, a knowledge row deleted) are one plain statement in their fcgi/ handler.
-- Refusals: P0002 (no such dialog) and CA409 (closed), as 002_messages.sql says.

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
-- when the dialog has been closed since; a new message to a closed dialog is refused
-- (both decided by chatai_lock_dialog()).
CREATE FUNCTION chatai_rest_visitor_post(p_dialog bigint, p_text text, p_client_id text,
                                         OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    l record;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, p_client_id, true) l;
    created := l.known IS NULL;
    message := COALESCE(l.known, chatai_post_locked(l.d, 'user', p_text, p_client_id));
END $$;

-- Visitor messages in batches: a REST process gathers the visitor posts that arrive
-- while one is being stored and stores them together, in one transaction. Every NOTIFY
-- takes a database-wide lock at commit, so commits that notify run one at a time; one
-- commit for many messages is what lets visitor posts scale past that lock.
-- p_items: [{"d": dialog id, "t": text, "c": client_id or null}, ...]. One row per item:
-- ord (1-based position in p_items), code ('ok', 'P0002' no such dialog, 'CA409' closed),
-- message and created as chatai_rest_visitor_post() returns them.
-- Items are stored in order of dialog id, then position: every batch locks dialog rows
-- in the same order (no deadlock between batches), and one dialog's messages keep the
-- order they arrived in. Anything else going wrong fails the whole batch (the caller
-- then stores the items one by one).
CREATE FUNCTION chatai_rest_visitor_post_batch(p_items jsonb)
RETURNS TABLE (ord int, code text, message text, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    it       record;
    v_d      dialogs;
    v_known  text;
BEGIN
    FOR it IN SELECT (e.value ->> 'd')::bigint AS d, e.value ->> 't' AS t, e.value ->> 'c' AS c,
                     e.ordinality::int AS o
                FROM jsonb_array_elements(p_items) WITH ORDINALITY e
               ORDER BY 1, 4
    LOOP
        ord := it.o;
        message := NULL;
        created := NULL;
        SELECT * INTO v_d FROM dialogs d WHERE d.id = it.d FOR UPDATE;
        IF NOT FOUND THEN
            code := 'P0002';
            RETURN NEXT;
            CONTINUE;
        END IF;
        v_known := NULL;
        IF it.c IS NOT NULL THEN
            SELECT m.json INTO v_known FROM messages m WHERE m.dialog_id = it.d AND m.client_id = it.c;
        END IF;
        IF v_known IS NOT NULL THEN
            code := 'ok';
            message := v_known;
            created := false;
        ELSIF v_d.status = 'closed' THEN
            code := 'CA409';
        ELSE
            -- Locked above and the client_id is new: the writing half only.
            code := 'ok';
            message := chatai_post_locked(v_d, 'user', it.t, it.c)::text;
            created := true;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- An operator reply. A dialog in status 'ai' or 'waiting' is taken over first
-- (operator_joined, in the same transaction) so the assistant never talks over a person.
-- Missing, closed and retried as for a visitor message; a retry takes nothing over.
CREATE FUNCTION chatai_rest_operator_post(p_dialog bigint, p_operator bigint, p_text text,
                                          p_client_id text, OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_takeover boolean;
    v_name     text;
BEGIN
    SELECT l.known IS NULL AND (l.d).status IN ('ai', 'waiting') INTO v_takeover
      FROM chatai_lock_dialog(p_dialog, p_client_id, true) l;
    IF v_takeover THEN
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
    SELECT (l.d).* INTO d FROM chatai_lock_dialog(p_dialog, NULL, true) l;  -- P0002, CA409
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

-- Typing over REST: chatai_typing_check() (002_messages.sql), then the NOTIFY; never stored.
CREATE FUNCTION chatai_rest_typing(p_dialog bigint, p_who text, p_state text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatai_typing_check(p_dialog);
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

INSERT INTO schema_migrations (version, name) VALUES (4, '004_rest.sql') ON CONFLICT (version) DO NOTHING;
