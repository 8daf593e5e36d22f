-- SPDX-License-Identifier: MIT
-- ChatAI: the admin side: operators disabled and edited, assistants and knowledge written
-- by one set of functions, private notes, assignment, message search.
--
-- The REST handlers (fcgi/operators.c, fcgi/knowledge.c, fcgi/notes.c, fcgi/search.c) and
-- chatai-ctl (ctl/admin.c) write operators, assistants and knowledge ONLY through the
-- chatai_operator_*, chatai_assistant_* and chatai_knowledge_* functions below, so both
-- apply the same rules. Refusals (besides P0002 and CA409 of 002_messages.sql):
--   CA400  a value is not acceptable; the message names the field first ("field: why")
--   CA409  the last active admin would be disabled or demoted; a dialog is closed
--   23505  a taken email (unique index operators_email_key)

-- ---------------------------------------------------------------------------------------
-- Operators.

CREATE FUNCTION chatai_operator_json(o operators) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', o.id, 'email', o.email, 'name', o.name, 'role', o.role,
                              'disabled', o.disabled_at IS NOT NULL,
                              'last_seen_at', chatai_ts(o.last_seen_at))
$$;

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

-- Change an operator; NULL leaves a field as it is. p_disabled true disables, false
-- enables; p_hash sets a new password hash. A disable or a new password revokes the
-- operator's open sessions in this transaction (the trigger sessions_changed tells the
-- REST caches and the notifier, which closes the streams with 4401), except
-- p_keep_session on a password change (never on a disable): an admin's new password
-- (PATCH /api/operators/{id}, chatai-ctl operator passwd) ends every session, the
-- operator's own (PATCH /api/me) every one but the session that asked. Demoting or
-- disabling the last active admin is CA409. Every change of role or disabled state takes
-- one transaction-wide advisory lock first, so two such changes never both pass the
-- check. Returns the operator's JSON and the ids of the sessions revoked now.
CREATE FUNCTION chatai_operator_update(p_id bigint, p_name text, p_role text, p_disabled boolean,
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

-- ---------------------------------------------------------------------------------------
-- Assistants and knowledge.

CREATE FUNCTION chatai_assistant_json(a assistants) RETURNS jsonb
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

CREATE FUNCTION chatai_knowledge_json(k knowledge) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', k.id, 'assistant_id', k.assistant_id,
                              'question', k.question, 'answer', k.answer,
                              'created_at', chatai_ts(k.created_at))
$$;

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
    v_name text;
BEGIN
    PERFORM chatai_lock_dialog(p_dialog, NULL, true);  -- P0002 when missing, CA409 closed
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
-- Search over message text (index messages_text_fts_idx).

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

INSERT INTO schema_migrations (version, name) VALUES (6, '006_admin.sql') ON CONFLICT (version) DO NOTHING;
