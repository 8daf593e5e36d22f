-- SPDX-License-Identifier: MIT
-- ChatAI schema 005: what makes a REST request one cheap round trip.
--
-- 1. A message's JSON is rendered once, when it is stored (messages.json). Messages are
--    immutable, so a history read joins stored text instead of building JSON per row,
--    and every path (REST history, long-poll, inbox, the notifier's replay) sends the
--    very bytes the NOTIFY carried.
-- 2. Caches in the REST workers (verified sessions, widget dialogs) are told at once
--    when what they hold changes, whoever changed it (REST, chatai-ctl, psql):
--      {"k":"revoke","session_id":N}        a session was revoked, shortened or deleted
--      {"k":"operator","operator_id":N}     an operator's name, email or role changed, or
--                                           last_seen_at was moved back (by hand)
--      {"k":"assistant","assistant_id":N}   an assistant's allowed origins changed or it went
--    The notifier closes the streams of a revoked session; it ignores the other two.
-- 3. Rate-limit counters are not worth a WAL write: rate_limits becomes UNLOGGED (a crash
--    of PostgreSQL empties it, which only forgives the current minute).

-- The same JSON as 001's chatai_message_json(), in PL/pgSQL: a LANGUAGE sql function
-- with a sub-select is never inlined, and its plan is made again on every call (about
-- 150 us each, measured with track_functions); PL/pgSQL keeps its plans for the session.
-- The timestamp is chatai_ts()'s expression written out, for the same reason.
CREATE OR REPLACE FUNCTION chatai_message_json(m messages) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v  jsonb;
    op jsonb;
BEGIN
    v := jsonb_build_object(
        'type', 'message', 'id', m.id, 'dialog_id', m.dialog_id, 'seq', m.seq,
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

ALTER TABLE messages ADD COLUMN json text;
UPDATE messages m SET json = chatai_message_json(m)::text;
ALTER TABLE messages ALTER COLUMN json SET NOT NULL;

ALTER TABLE rate_limits SET UNLOGGED;

-- The idempotency lookup returns the stored JSON.
CREATE OR REPLACE FUNCTION chatai_lock_dialog(p_dialog bigint, p_client_id text,
                                              OUT d dialogs, OUT known jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO d FROM dialogs WHERE id = p_dialog FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dialog % does not exist', p_dialog USING ERRCODE = 'P0002';
    END IF;
    IF p_client_id IS NOT NULL THEN
        SELECT m.json::jsonb INTO known
          FROM messages m WHERE m.dialog_id = p_dialog AND m.client_id = p_client_id;
    END IF;
END $$;

-- chatai_post_message() as in 001, except that the row is built first, its JSON rendered
-- once, and the row inserted with that JSON.
CREATE OR REPLACE FUNCTION chatai_post_message(p_dialog bigint, p_sender text, p_text text,
                                               p_client_id text DEFAULT NULL, p_operator bigint DEFAULT NULL,
                                               p_event text DEFAULT NULL, p_status text DEFAULT NULL,
                                               p_assign bigint DEFAULT NULL,
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

    v_aud := CASE WHEN p_sender = 'user' THEN 'admin' ELSE 'all' END;
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
           read_seq = CASE WHEN p_sender = 'manager' THEN last_seq + 1 ELSE read_seq END
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

-- Cache invalidation (see the top of this file).
CREATE FUNCTION chatai_sessions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       OR (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
       OR NEW.expires_at < OLD.expires_at THEN
        PERFORM pg_notify('chatai', jsonb_build_object('k', 'revoke', 'session_id', OLD.id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION chatai_sessions_changed();

CREATE FUNCTION chatai_operators_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- last_seen_at moved back (never done by ChatAI itself): the cached entries stop
    -- vouching that the operator was marked seen, and the next request marks them again.
    IF NEW.name IS DISTINCT FROM OLD.name OR NEW.email IS DISTINCT FROM OLD.email
       OR NEW.role IS DISTINCT FROM OLD.role
       OR (OLD.last_seen_at IS NOT NULL AND (NEW.last_seen_at IS NULL OR NEW.last_seen_at < OLD.last_seen_at)) THEN
        PERFORM pg_notify('chatai', jsonb_build_object('k', 'operator', 'operator_id', NEW.id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER operators_changed AFTER UPDATE ON operators
    FOR EACH ROW EXECUTE FUNCTION chatai_operators_changed();

CREATE FUNCTION chatai_assistants_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.allowed_origins IS DISTINCT FROM OLD.allowed_origins THEN
        PERFORM pg_notify('chatai', jsonb_build_object('k', 'assistant', 'assistant_id', OLD.id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER assistants_changed AFTER UPDATE OR DELETE ON assistants
    FOR EACH ROW EXECUTE FUNCTION chatai_assistants_changed();

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
    v_status text;
    v_known  text;
    r        record;
BEGIN
    FOR it IN SELECT (e.value ->> 'd')::bigint AS d, e.value ->> 't' AS t, e.value ->> 'c' AS c,
                     e.ordinality::int AS o
                FROM jsonb_array_elements(p_items) WITH ORDINALITY e
               ORDER BY 1, 4
    LOOP
        ord := it.o;
        message := NULL;
        created := NULL;
        SELECT d.status INTO v_status FROM dialogs d WHERE d.id = it.d FOR UPDATE;
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
        ELSIF v_status = 'closed' THEN
            code := 'CA409';
        ELSE
            SELECT p.message, p.created INTO r FROM chatai_post_message(it.d, 'user', it.t, it.c) p;
            code := 'ok';
            message := r.message::text;
            created := r.created;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (5, '005_rest_speed.sql') ON CONFLICT (version) DO NOTHING;
