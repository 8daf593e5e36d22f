-- SPDX-License-Identifier: MIT
-- ChatAI: how a message is stored, the JSON of a message and of a dialog, dialog events
-- and typing. Every writer (chatai.fcgi, chatai-ai, chatai-ctl, the notifier) calls these.
--
-- chatai_post_message() is the ONE way a message is stored (its writing half,
-- chatai_post_locked(), is called alone only by the visitor posts, which take the lock
-- themselves to check a batch without raising). It takes the dialog row lock,
-- bumps last_seq, inserts, records the inbox event and calls pg_notify, all in the
-- caller's transaction, so seq follows commit order and a notification leaves only
-- after commit. The JSON of a message and of a dialog is built by SQL functions too, so
-- that the REST workers, the notifier and the assistant worker all send the same bytes.
--
-- Notifications. Channel 'chatai' carries one JSON object per event (see docs/internals.md):
--   {"k":"msg","dialog_id":D,"assistant_id":A,"seq":S,"aud":"all"|"admin"|"note","msg":{...}}
--       "msg" is left out (and "ref":true set) when the payload would pass 7900 bytes:
--       the notifier then reads the message by (dialog_id, seq).
--   {"k":"dialog","dialog_id":D,"assistant_id":A,"kind":"dialog_created"|"dialog_updated"}
--       the notifier reads chatai_dialog_json() for inbox subscribers.
--   {"k":"typing","dialog_id":D,"assistant_id":A,"who":"user"|"ai"|"manager","state":"start"|"stop"}
--   {"k":"revoke"|"operator"|"assistant",...}  what the REST caches hold changed (003_auth.sql).
-- Channel 'chatai_jobs' carries the dialog id of a new or grown answer job.
--
-- Refusals use their own SQLSTATEs, mapped to HTTP by fcgi/:
--   P0002  no such dialog                                                  -> 404
--   CA409  the action makes no sense in the dialog's state (e.g. closed)   -> 409

-- ---------------------------------------------------------------------------------------
-- JSON shapes of docs/api.md.

CREATE FUNCTION chatai_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The JSON of a message ("type" "note" for a private note), rendered once when it is
-- stored (messages.json). In PL/pgSQL: a LANGUAGE sql function with a sub-select is never
-- inlined, and its plan is made again on every call (about 150 us each, measured with
-- track_functions); PL/pgSQL keeps its plans for the session. The timestamp is
-- chatai_ts()'s expression written out, for the same reason.
CREATE FUNCTION chatai_message_json(m messages) RETURNS jsonb
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

-- A dialog's last_message is the newest message its visitor's history shows (site
-- audience, or the visitor's own): never a note or an operators' event, since the dialog
-- JSON also answers the widget (POST /api/widget/dialogs/{id}/handoff).
CREATE FUNCTION chatai_dialog_json(d dialogs) RETURNS jsonb
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

-- ---------------------------------------------------------------------------------------
-- Events.

CREATE FUNCTION chatai_notify_dialog(p_dialog bigint, p_kind text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_assistant bigint;
BEGIN
    SELECT assistant_id INTO v_assistant FROM dialogs WHERE id = p_dialog;
    INSERT INTO inbox_events (dialog_id, kind) VALUES (p_dialog, p_kind);
    PERFORM pg_notify('chatai', jsonb_build_object('k', 'dialog', 'dialog_id', p_dialog,
                      'assistant_id', v_assistant, 'kind', p_kind)::text);
END $$;

CREATE FUNCTION chatai_typing(p_dialog bigint, p_who text, p_state text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_assistant bigint;
BEGIN
    IF p_who NOT IN ('user', 'ai', 'manager') OR p_state NOT IN ('start', 'stop') THEN
        RAISE EXCEPTION 'bad typing event' USING ERRCODE = '22023';
    END IF;
    SELECT assistant_id INTO v_assistant FROM dialogs WHERE id = p_dialog;
    PERFORM pg_notify('chatai', jsonb_build_object('k', 'typing', 'dialog_id', p_dialog,
                      'assistant_id', v_assistant, 'who', p_who, 'state', p_state)::text);
END $$;

-- Typing has one path for every writer (docs/scaleout.md, "Typing"): REST (fcgi), the
-- WebSocket streams (notifier) and the assistant worker. The dialog check (missing:
-- P0002, closed: CA409) lives here only; with redis_url set the writer asks it, then
-- PUBLISHes on chatai:ephemeral, and falls back to chatai_typing()'s NOTIFY when Redis is
-- down or nobody listens there. chatai_rest_typing() (004_rest.sql) is the same check and
-- the NOTIFY in one call, for writers without Redis. Returns the dialog's assistant.
CREATE FUNCTION chatai_typing_check(p_dialog bigint) RETURNS bigint
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

-- ---------------------------------------------------------------------------------------
-- Storing a message.

-- Lock a dialog row for a writer and look up an idempotency key. Raises P0002 for a
-- missing dialog and, with p_open, CA409 for a closed one, unless p_client_id names a
-- message already stored (a retry gets its first message back even when the dialog has
-- been closed since). `known` is the stored JSON of the message already stored under
-- p_client_id (NULL when there is none, or no key was given): the caller returns it
-- unchanged. The row lock orders every writer of this dialog, so seq follows commit order
-- and two retries of one client_id cannot both miss the lookup.
CREATE FUNCTION chatai_lock_dialog(p_dialog bigint, p_client_id text, p_open boolean DEFAULT false,
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
    IF p_open AND known IS NULL AND d.status = 'closed' THEN
        RAISE EXCEPTION 'dialog % is closed', p_dialog USING ERRCODE = 'CA409';
    END IF;
END $$;

-- Store one message. Returns the message JSON and whether it was created now
-- (false: the client_id was seen before and the first message is returned).
--   p_status:   when not NULL, the dialog's new status (system events), stored on the
--               message and applied to the dialog in the same transaction.
--   p_assign:   with p_status, the new assigned operator (NULL clears it when p_status is
--               'ai', 'waiting' or 'closed'; kept for 'operator' when NULL).
--   p_audience: NULL is the usual rule (visitor messages 'admin', the rest 'all'). A note
--               ('note') moves no status and no read position and never makes an answer job.
-- The row is built first, its JSON rendered once, and the row inserted with that JSON.
-- A visitor message to a dialog in status 'ai' creates or grows the pending answer job.
CREATE FUNCTION chatai_post_message(p_dialog bigint, p_sender text, p_text text,
                                    p_client_id text DEFAULT NULL, p_operator bigint DEFAULT NULL,
                                    p_event text DEFAULT NULL, p_status text DEFAULT NULL,
                                    p_assign bigint DEFAULT NULL, p_audience text DEFAULT NULL,
                                    OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    l record;
BEGIN
    SELECT * INTO l FROM chatai_lock_dialog(p_dialog, p_client_id) l;
    IF l.known IS NOT NULL THEN
        message := l.known;
        created := false;
        RETURN;
    END IF;
    message := chatai_post_locked(l.d, p_sender, p_text, p_client_id, p_operator, p_event, p_status,
                                  p_assign, p_audience);
    created := true;
END $$;

-- The writing half of chatai_post_message(), for a caller that holds the row lock of d
-- (taken with FOR UPDATE in this transaction) and knows p_client_id is not stored yet:
-- chatai_post_message() itself and the visitor posts (004_rest.sql), which lock once.
CREATE FUNCTION chatai_post_locked(d dialogs, p_sender text, p_text text,
                                   p_client_id text DEFAULT NULL, p_operator bigint DEFAULT NULL,
                                   p_event text DEFAULT NULL, p_status text DEFAULT NULL,
                                   p_assign bigint DEFAULT NULL, p_audience text DEFAULT NULL,
                                   OUT message jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    p_dialog bigint := d.id;
    m        messages;
    v_aud    text;
    v_json   jsonb;
    v_notify text;
BEGIN
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
END $$;

INSERT INTO schema_migrations (version, name) VALUES (2, '002_messages.sql') ON CONFLICT (version) DO NOTHING;
