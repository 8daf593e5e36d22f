-- SPDX-License-Identifier: MIT
-- ChatAI schema 008: the admin side (issue 14): operators disabled and edited, assistants
-- and knowledge written by one set of functions, private notes, assignment, message search.
--
-- The REST handlers (fcgi/operators.c, fcgi/knowledge.c, fcgi/notes.c, fcgi/search.c) and
-- chatai-ctl (ctl/admin.c) write operators, assistants and knowledge ONLY through the
-- chatai_operator_*, chatai_assistant_* and chatai_knowledge_* functions below, so both
-- apply the same rules. Refusals (besides 001/002's P0002 and CA409):
--   CA400  a value is not acceptable; the message names the field first ("field: why")
--   CA409  the last active admin would be disabled or demoted; a dialog is closed
--   23505  a taken email (unique index operators_email_key)

-- ---------------------------------------------------------------------------------------
-- Operators.

ALTER TABLE operators ADD COLUMN disabled_at timestamptz;

CREATE OR REPLACE FUNCTION chatai_operator_json(o operators) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', o.id, 'email', o.email, 'name', o.name, 'role', o.role,
                              'disabled', o.disabled_at IS NOT NULL,
                              'last_seen_at', chatai_ts(o.last_seen_at))
$$;

-- A session is never opened for a disabled operator, whoever inserts it (a login racing
-- a disable waits for the operator's row lock and then sees disabled_at): the row is
-- skipped, so the login finds no session and is refused like a wrong password.
CREATE FUNCTION chatai_sessions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM operators WHERE id = NEW.operator_id AND disabled_at IS NULL FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sessions_guard BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION chatai_sessions_guard();

CREATE FUNCTION chatai_operator_create(p_email text, p_name text, p_role text, p_hash text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    o operators;
BEGIN
    IF p_role NOT IN ('admin', 'operator') THEN
        RAISE EXCEPTION 'role: must be admin or operator' USING ERRCODE = 'CA400';
    END IF;
    INSERT INTO operators (email, name, role, password_hash) VALUES (p_email, p_name, p_role, p_hash)
    RETURNING * INTO o;
    RETURN chatai_operator_json(o);
END $$;

-- Change an operator; NULL leaves a field as it is. p_disabled true disables (every open
-- session revoked in this transaction: the trigger sessions_changed tells the REST caches
-- and the notifier, which closes the streams with 4401), false enables. Demoting or
-- disabling the last active admin is CA409. Every change of role or disabled state takes
-- one transaction-wide advisory lock first, so two such changes never both pass the check.
-- Returns the operator's JSON and the ids of the sessions revoked now.
CREATE FUNCTION chatai_operator_update(p_id bigint, p_name text, p_role text, p_disabled boolean,
                                       p_hash text, OUT operator jsonb, OUT revoked bigint[])
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
    IF p_disabled THEN
        WITH r AS (UPDATE sessions SET revoked_at = now()
                    WHERE operator_id = p_id AND revoked_at IS NULL RETURNING id)
        SELECT COALESCE(array_agg(id), '{}') INTO revoked FROM r;
    END IF;
    operator := chatai_operator_json(o);
END $$;

-- ---------------------------------------------------------------------------------------
-- Assistants and knowledge.

CREATE OR REPLACE FUNCTION chatai_assistant_json(a assistants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'name', a.name, 'greeting', a.greeting,
        'allowed_origins', to_jsonb(a.allowed_origins),
        'handoff_words', to_jsonb(a.handoff_words), 'waiting_timeout', a.waiting_timeout,
        'ts_config', a.ts_config::text,
        'created_at', chatai_ts(a.created_at), 'updated_at', chatai_ts(a.updated_at))
$$;

CREATE FUNCTION chatai_assistant_create(p_name text, p_greeting text, p_origins jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a assistants;
BEGIN
    INSERT INTO assistants (name, greeting, allowed_origins)
    VALUES (p_name, COALESCE(p_greeting, ''), ARRAY(SELECT jsonb_array_elements_text(COALESCE(p_origins, '[]'))))
    RETURNING * INTO a;
    RETURN chatai_assistant_json(a);
END $$;

-- Change an assistant: p holds the fields to change (already checked by the caller:
-- name, greeting, allowed_origins [strings], handoff_words [strings], waiting_timeout
-- [seconds > 0, or null: no timeout], ts_config [a text search configuration]). A new
-- ts_config is copied to the assistant's knowledge, whose search vectors follow.
CREATE FUNCTION chatai_assistant_update(p_id bigint, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a     assistants;
    v_cfg regconfig;
BEGIN
    IF p ? 'ts_config' THEN
        SELECT c.oid::regconfig INTO v_cfg FROM pg_ts_config c
         WHERE c.cfgname = p ->> 'ts_config' AND pg_ts_config_is_visible(c.oid);
        IF v_cfg IS NULL THEN
            RAISE EXCEPTION 'ts_config: no such text search configuration' USING ERRCODE = 'CA400';
        END IF;
    END IF;
    UPDATE assistants SET
        name = COALESCE(p ->> 'name', name),
        greeting = COALESCE(p ->> 'greeting', greeting),
        allowed_origins = CASE WHEN p ? 'allowed_origins'
                               THEN ARRAY(SELECT jsonb_array_elements_text(p -> 'allowed_origins'))
                               ELSE allowed_origins END,
        handoff_words = CASE WHEN p ? 'handoff_words'
                             THEN ARRAY(SELECT jsonb_array_elements_text(p -> 'handoff_words'))
                             ELSE handoff_words END,
        waiting_timeout = CASE WHEN p ? 'waiting_timeout' THEN (p ->> 'waiting_timeout')::int
                               ELSE waiting_timeout END,
        ts_config = COALESCE(v_cfg, ts_config),
        updated_at = now()
     WHERE id = p_id RETURNING * INTO a;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assistant % does not exist', p_id USING ERRCODE = 'P0002';
    END IF;
    IF v_cfg IS NOT NULL THEN
        UPDATE knowledge SET ts_config = v_cfg WHERE assistant_id = p_id AND ts_config <> v_cfg;
    END IF;
    RETURN chatai_assistant_json(a);
END $$;

-- "The same question": equal once trimmed and lower-cased.
CREATE INDEX knowledge_question_idx ON knowledge (assistant_id, lower(btrim(question)));

-- A new entry, or (p_upsert) the answer of the entry with the same question replaced.
CREATE FUNCTION chatai_knowledge_put(p_assistant bigint, p_question text, p_answer text,
                                     p_upsert boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k     knowledge;
    v_cfg regconfig;
BEGIN
    SELECT ts_config INTO v_cfg FROM assistants WHERE id = p_assistant FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assistant % does not exist', p_assistant USING ERRCODE = 'P0002';
    END IF;
    IF p_upsert THEN
        UPDATE knowledge SET answer = p_answer, question = p_question
         WHERE id = (SELECT id FROM knowledge WHERE assistant_id = p_assistant
                        AND lower(btrim(question)) = lower(btrim(p_question)) ORDER BY id LIMIT 1)
        RETURNING * INTO k;
        IF FOUND THEN
            RETURN chatai_knowledge_json(k);
        END IF;
    END IF;
    INSERT INTO knowledge (assistant_id, question, answer, ts_config)
    VALUES (p_assistant, p_question, p_answer, v_cfg) RETURNING * INTO k;
    RETURN chatai_knowledge_json(k);
END $$;

CREATE FUNCTION chatai_knowledge_update(p_id bigint, p_question text, p_answer text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k knowledge;
BEGIN
    UPDATE knowledge SET question = COALESCE(p_question, question), answer = COALESCE(p_answer, answer)
     WHERE id = p_id RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'knowledge entry % does not exist', p_id USING ERRCODE = 'P0002';
    END IF;
    RETURN chatai_knowledge_json(k);
END $$;

-- Replace the whole knowledge of an assistant by p_rows ([{"question","answer"}, ...]) in
-- the caller's transaction: visitors see the old set or the new one, never a mix.
-- Returns the number of entries stored.
CREATE FUNCTION chatai_knowledge_replace_all(p_assistant bigint, p_rows jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_cfg regconfig;
    v_n   int;
BEGIN
    SELECT ts_config INTO v_cfg FROM assistants WHERE id = p_assistant FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assistant % does not exist', p_assistant USING ERRCODE = 'P0002';
    END IF;
    DELETE FROM knowledge WHERE assistant_id = p_assistant;
    INSERT INTO knowledge (assistant_id, question, answer, ts_config)
    SELECT p_assistant, e ->> 'question', e ->> 'answer', v_cfg
      FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS t(e, n) ORDER BY n;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;

-- ---------------------------------------------------------------------------------------
-- Private notes and assignment.
--
-- A note is a message of audience 'note': stored in the dialog's seq order by
-- chatai_post_message() like any other, its JSON has "type": "note", and it goes to admin
-- channels and admin history only (NOTIFY "aud":"note": not "all", so the notifier keeps
-- it off site channels; widget history and long-poll read audiences 'all' and 'admin'
-- only; the assistant's LLM context leaves notes out).
-- operator_assigned is a system event for operators (audience 'admin').

ALTER TABLE messages DROP CONSTRAINT messages_audience_check;
ALTER TABLE messages ADD CONSTRAINT messages_audience_check CHECK (audience IN ('all', 'admin', 'note'));
ALTER TABLE messages DROP CONSTRAINT messages_event_check;
ALTER TABLE messages ADD CONSTRAINT messages_event_check CHECK (event IS NULL OR event IN (
    'handoff_requested', 'operator_joined', 'operator_left', 'dialog_closed', 'dialog_released',
    'offline_notice', 'operator_assigned'));

CREATE OR REPLACE FUNCTION chatai_message_json(m messages) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v  jsonb;
    op jsonb;
BEGIN
    v := jsonb_build_object(
        'type', CASE WHEN m.audience = 'note' THEN 'note' ELSE 'message' END,
        'id', m.id, 'dialog_id', m.dialog_id, 'seq', m.seq,
        'sender', m.sender, 'text', m.text,
        'timestamp', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'client_id', m.client_id);
    IF m.event IS NOT NULL THEN
        v := v || jsonb_build_object('event', m.event, 'status', m.status);
    END IF;
    IF m.sender = 'manager' AND m.operator_id IS NOT NULL THEN
        SELECT jsonb_build_object('id', o.id, 'name', o.name) INTO op FROM operators o WHERE o.id = m.operator_id;
        v := v || jsonb_build_object('operator', op);
    END IF;
    RETURN v;
END $$;

-- 005's chatai_post_message() with one more argument, p_audience: NULL is the usual rule
-- (visitor messages 'admin', the rest 'all'). A note ('note') moves no status and no
-- read position and never makes an answer job.
DROP FUNCTION chatai_post_message(bigint, text, text, text, bigint, text, text, bigint);
CREATE FUNCTION chatai_post_message(p_dialog bigint, p_sender text, p_text text,
                                    p_client_id text DEFAULT NULL, p_operator bigint DEFAULT NULL,
                                    p_event text DEFAULT NULL, p_status text DEFAULT NULL,
                                    p_assign bigint DEFAULT NULL, p_audience text DEFAULT NULL,
                                    OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    d        dialogs;
    m        messages;
    v_aud    text;
    v_json   jsonb;
    v_notify text;
    l        record;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, p_client_id) l;
    IF l.known IS NOT NULL THEN
        message := l.known;
        created := false;
        RETURN;
    END IF;
    d := l.d;

    v_aud := COALESCE(p_audience, CASE WHEN p_sender = 'user' THEN 'admin' ELSE 'all' END);
    UPDATE dialogs
       SET last_seq = last_seq + 1,
           updated_at = now(),
           status = COALESCE(p_status, status),
           assigned_to = CASE WHEN p_status IS NULL THEN assigned_to
                              WHEN p_status = 'operator' THEN COALESCE(p_assign, assigned_to)
                              ELSE p_assign END,
           waiting_since = CASE WHEN p_status = 'waiting' THEN now()
                                WHEN p_status IS NULL THEN waiting_since
                                ELSE NULL END,
           read_seq = CASE WHEN p_sender = 'manager' AND v_aud = 'all' THEN last_seq + 1 ELSE read_seq END
     WHERE id = p_dialog
     RETURNING * INTO d;

    m.id := nextval('messages_id_seq');
    m.dialog_id := p_dialog;
    m.seq := d.last_seq;
    m.sender := p_sender;
    m.text := p_text;
    m.client_id := p_client_id;
    m.audience := v_aud;
    m.event := p_event;
    m.status := CASE WHEN p_event IS NOT NULL THEN d.status END;
    m.operator_id := p_operator;
    m.created_at := clock_timestamp();
    v_json := chatai_message_json(m);
    m.json := v_json::text;
    INSERT INTO messages VALUES (m.*);

    INSERT INTO inbox_events (dialog_id, kind, message_id) VALUES (p_dialog, 'message', m.id);
    INSERT INTO inbox_events (dialog_id, kind) VALUES (p_dialog, 'dialog_updated');

    v_notify := jsonb_build_object('k', 'msg', 'dialog_id', p_dialog, 'assistant_id', d.assistant_id,
                                   'seq', m.seq, 'aud', v_aud, 'msg', v_json)::text;
    IF octet_length(v_notify) > 7900 THEN
        v_notify := jsonb_build_object('k', 'msg', 'dialog_id', p_dialog, 'assistant_id', d.assistant_id,
                                       'seq', m.seq, 'aud', v_aud, 'ref', true)::text;
    END IF;
    PERFORM pg_notify('chatai', v_notify);
    PERFORM pg_notify('chatai', jsonb_build_object('k', 'dialog', 'dialog_id', p_dialog,
                      'assistant_id', d.assistant_id, 'kind', 'dialog_updated')::text);

    IF p_sender = 'user' AND d.status = 'ai' THEN
        INSERT INTO answer_jobs (dialog_id, from_seq, up_to_seq)
        VALUES (p_dialog, m.seq, m.seq)
        ON CONFLICT (dialog_id) WHERE state = 'pending'
        DO UPDATE SET up_to_seq = EXCLUDED.up_to_seq, updated_at = now();
        PERFORM pg_notify('chatai_jobs', p_dialog::text);
    END IF;

    message := v_json;
    created := true;
END $$;

-- A dialog's last_message is the newest message its visitor's history shows (site
-- audience, or the visitor's own): never a note or an operators' event, since the dialog
-- JSON also answers the widget (POST /api/widget/dialogs/{id}/handoff).
CREATE OR REPLACE FUNCTION chatai_dialog_json(d dialogs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'assistant_id', d.assistant_id, 'status', d.status,
        'assigned_to', (SELECT jsonb_build_object('id', o.id, 'name', o.name)
                        FROM operators o WHERE o.id = d.assigned_to),
        'last_seq', d.last_seq,
        'last_message', (SELECT chatai_message_json(m) FROM messages m
                         WHERE m.dialog_id = d.id AND (m.audience = 'all' OR m.sender = 'user')
                         ORDER BY m.seq DESC LIMIT 1),
        'unread', (SELECT count(*) FROM messages m
                   WHERE m.dialog_id = d.id AND m.seq > d.read_seq AND m.sender = 'user'),
        'visitor', d.visitor,
        'created_at', chatai_ts(d.created_at), 'updated_at', chatai_ts(d.updated_at))
$$;

CREATE FUNCTION chatai_dialog_note(p_dialog bigint, p_operator bigint, p_text text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT p.message FROM chatai_post_message(p_dialog, 'manager', p_text, NULL, p_operator,
                                              NULL, NULL, NULL, 'note') p
$$;

-- Assign a dialog to an operator (p_by assigns p_to). The status does not change; the
-- operators see a system event operator_assigned. Closed: CA409; p_to unknown or
-- disabled: CA400. Returns the dialog's JSON.
CREATE FUNCTION chatai_dialog_assign(p_dialog bigint, p_by bigint, p_to bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d      dialogs;
    l      record;
    v_name text;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, NULL) l;  -- P0002 when missing
    d := l.d;
    IF d.status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
    SELECT name INTO v_name FROM operators WHERE id = p_to AND disabled_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'operator_id: no such active operator' USING ERRCODE = 'CA400';
    END IF;
    UPDATE dialogs SET assigned_to = p_to WHERE id = p_dialog;
    PERFORM chatai_post_message(p_dialog, 'system', 'Assigned to ' || v_name, NULL, p_by,
                                'operator_assigned', NULL, NULL, 'admin');
    SELECT * INTO d FROM dialogs WHERE id = p_dialog;
    RETURN chatai_dialog_json(d);
END $$;

-- ---------------------------------------------------------------------------------------
-- Search over message text ('simple' configuration: no stemming, any language).

CREATE INDEX messages_text_fts_idx ON messages USING gin (to_tsvector('simple'::regconfig, text));

-- The newest p_limit messages matching p_q (websearch syntax), each with a plain-text
-- snippet and its dialog's status, assistant and page.
CREATE FUNCTION chatai_search(p_q text, p_limit int) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_q tsquery := websearch_to_tsquery('simple'::regconfig, p_q);
BEGIN
    IF numnode(v_q) = 0 THEN
        RETURN '[]'::jsonb;
    END IF;
    RETURN COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
                   'dialog_id', x.dialog_id, 'message', x.json::jsonb,
                   'snippet', ts_headline('simple'::regconfig, x.text, v_q,
                                          'StartSel="", StopSel="", MaxWords=20, MinWords=8'),
                   'status', d.status, 'assistant', jsonb_build_object('id', a.id, 'name', a.name),
                   'page_url', d.visitor ->> 'page_url') ORDER BY x.created_at DESC, x.id DESC)
          FROM (SELECT m.* FROM messages m
                 WHERE to_tsvector('simple'::regconfig, m.text) @@ v_q
                 ORDER BY m.created_at DESC, m.id DESC LIMIT p_limit) x
          JOIN dialogs d ON d.id = x.dialog_id
          JOIN assistants a ON a.id = d.assistant_id), '[]'::jsonb);
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (8, '008_admin.sql') ON CONFLICT (version) DO NOTHING;
