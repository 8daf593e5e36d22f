-- SPDX-License-Identifier: MIT
-- ChatAI schema, version 1.
-- Applied by `chatai-ctl migrate` inside one transaction; recorded in schema_migrations.
--
-- The invariants every writer relies on live in the functions at the end of this file:
-- chatai_post_message() is the ONE way a message is stored. It takes the dialog row lock,
-- bumps last_seq, inserts, records the inbox event and calls pg_notify, all in the
-- caller's transaction, so seq follows commit order and a notification leaves only
-- after commit. The JSON of a message and of a dialog is built by SQL functions too, so
-- that the REST workers, the notifier and the assistant worker all send the same bytes.

CREATE TABLE operators (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL DEFAULT 'operator' CHECK (role IN ('admin', 'operator')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz
);
CREATE UNIQUE INDEX operators_email_key ON operators (lower(email));

CREATE TABLE sessions (
    id          bigserial PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE,          -- hex SHA-256 of the bearer token
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_operator_idx ON sessions (operator_id);

CREATE TABLE assistants (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL,
    greeting         text NOT NULL DEFAULT '',
    allowed_origins  text[] NOT NULL DEFAULT '{}',   -- empty: any origin
    ts_config        regconfig NOT NULL DEFAULT 'english',  -- full-text search language
    handoff_words    text[] NOT NULL DEFAULT '{human,operator,agent,person}',
    max_failures     int NOT NULL DEFAULT 2 CHECK (max_failures >= 1),
    waiting_timeout  int CHECK (waiting_timeout IS NULL OR waiting_timeout > 0), -- seconds
    offline_message  text NOT NULL DEFAULT 'No operator is online right now. Leave your question here and we will answer as soon as one is back.',
    fallback_message text NOT NULL DEFAULT 'Sorry, I could not find an answer to that. Would you like to talk to a human?',
    match_threshold  real NOT NULL DEFAULT 0.05,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE knowledge (
    id           bigserial PRIMARY KEY,
    assistant_id bigint NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    question     text NOT NULL,
    answer       text NOT NULL,
    ts_config    regconfig NOT NULL DEFAULT 'english',  -- copied from the assistant
    tsv          tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector(ts_config, question), 'A') ||
                     setweight(to_tsvector(ts_config, answer), 'B')) STORED,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_assistant_idx ON knowledge (assistant_id);
CREATE INDEX knowledge_tsv_idx ON knowledge USING gin (tsv);

CREATE TABLE dialogs (
    id                 bigserial PRIMARY KEY,
    assistant_id       bigint NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'ai' CHECK (status IN ('ai', 'waiting', 'operator', 'closed')),
    assigned_to        bigint REFERENCES operators (id) ON DELETE SET NULL,
    last_seq           bigint NOT NULL DEFAULT 0,
    read_seq           bigint NOT NULL DEFAULT 0,  -- operators' read position
    visitor_token_hash text NOT NULL,              -- hex SHA-256 of the visitor token
    visitor            jsonb NOT NULL DEFAULT '{}', -- page_url, user_agent
    ai_failures        int NOT NULL DEFAULT 0,     -- unanswered questions in a row
    waiting_since      timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dialogs_updated_idx ON dialogs (updated_at DESC, id DESC);
CREATE INDEX dialogs_status_idx ON dialogs (status, updated_at DESC);

CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    dialog_id   bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    sender      text NOT NULL CHECK (sender IN ('user', 'ai', 'manager', 'system')),
    text        text NOT NULL,
    client_id   text,
    audience    text NOT NULL CHECK (audience IN ('all', 'admin')),  -- admin: not on the site channel
    event       text CHECK (event IS NULL OR event IN ('handoff_requested', 'operator_joined',
                                                       'operator_left', 'dialog_closed',
                                                       'dialog_released', 'offline_notice')),
    status      text,                                  -- the dialog's status after a system event
    operator_id bigint REFERENCES operators (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (dialog_id, seq),
    UNIQUE (dialog_id, client_id)
);

-- One pending job per dialog: questions that arrive while it waits join it (up_to_seq).
CREATE TABLE answer_jobs (
    id           bigserial PRIMARY KEY,
    dialog_id    bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    from_seq     bigint NOT NULL,      -- first visitor message this job answers
    up_to_seq    bigint NOT NULL,      -- last visitor message this job answers
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts     int NOT NULL DEFAULT 0,
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX answer_jobs_one_pending ON answer_jobs (dialog_id) WHERE state = 'pending';
CREATE INDEX answer_jobs_ready_idx ON answer_jobs (state, created_at) WHERE state IN ('pending', 'running');

-- Fixed-window counters for public routes (used when Redis is not configured).
CREATE TABLE rate_limits (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    count        int NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);

-- The operator-wide feed. xid records the writing transaction: a reader hands out a
-- cursor made of the snapshot xmin it saw, and the next read returns exactly the events
-- of transactions in [previous xmin, current xmin): every such transaction has ended, so
-- no event can appear later below the cursor (sequence ids alone can commit out of order).
CREATE TABLE inbox_events (
    id         bigserial PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    dialog_id  bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('dialog_created', 'dialog_updated', 'message')),
    message_id bigint REFERENCES messages (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_events_xid_idx ON inbox_events (xid, id);

-- ---------------------------------------------------------------------------------------
-- JSON shapes of API.md.

CREATE FUNCTION chatai_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION chatai_message_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'type', 'message', 'id', m.id, 'dialog_id', m.dialog_id, 'seq', m.seq,
        'sender', m.sender, 'text', m.text, 'timestamp', chatai_ts(m.created_at),
        'client_id', m.client_id)
        || CASE WHEN m.event IS NOT NULL
                THEN jsonb_build_object('event', m.event, 'status', m.status)
                ELSE '{}'::jsonb END
        || CASE WHEN m.sender = 'manager' AND m.operator_id IS NOT NULL
                THEN jsonb_build_object('operator', (SELECT jsonb_build_object('id', o.id, 'name', o.name)
                                                     FROM operators o WHERE o.id = m.operator_id))
                ELSE '{}'::jsonb END
$$;

CREATE FUNCTION chatai_dialog_json(d dialogs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'assistant_id', d.assistant_id, 'status', d.status,
        'assigned_to', (SELECT jsonb_build_object('id', o.id, 'name', o.name)
                        FROM operators o WHERE o.id = d.assigned_to),
        'last_seq', d.last_seq,
        'last_message', (SELECT chatai_message_json(m) FROM messages m
                         WHERE m.dialog_id = d.id ORDER BY m.seq DESC LIMIT 1),
        'unread', (SELECT count(*) FROM messages m
                   WHERE m.dialog_id = d.id AND m.seq > d.read_seq AND m.sender = 'user'),
        'visitor', d.visitor,
        'created_at', chatai_ts(d.created_at), 'updated_at', chatai_ts(d.updated_at))
$$;

-- ---------------------------------------------------------------------------------------
-- Notifications. Channel 'chatai' carries one JSON object per event (see docs/internals.md):
--   {"k":"msg","dialog_id":D,"assistant_id":A,"seq":S,"aud":"all"|"admin","msg":{...}}
--       "msg" is left out (and "ref":true set) when the payload would pass 7900 bytes:
--       the notifier then reads the message by (dialog_id, seq).
--   {"k":"dialog","dialog_id":D,"assistant_id":A,"kind":"dialog_created"|"dialog_updated"}
--       the notifier reads chatai_dialog_json() for inbox subscribers.
--   {"k":"typing","dialog_id":D,"assistant_id":A,"who":"user"|"ai"|"manager","state":"start"|"stop"}
--   {"k":"revoke","session_id":N}     a logout: close that session's streams.
-- Channel 'chatai_jobs' carries the dialog id of a new or grown answer job.

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

-- Lock a dialog row for a writer and look up an idempotency key. Raises P0002 for a
-- missing dialog. `known` is the JSON of the message already stored under p_client_id
-- (NULL when there is none, or no key was given): the caller returns it unchanged.
-- The row lock orders every writer of this dialog, so seq follows commit order and two
-- retries of one client_id cannot both miss the lookup.
CREATE FUNCTION chatai_lock_dialog(p_dialog bigint, p_client_id text,
                                   OUT d dialogs, OUT known jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO d FROM dialogs WHERE id = p_dialog FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dialog % does not exist', p_dialog USING ERRCODE = 'P0002';
    END IF;
    IF p_client_id IS NOT NULL THEN
        SELECT chatai_message_json(m) INTO known
          FROM messages m WHERE m.dialog_id = p_dialog AND m.client_id = p_client_id;
    END IF;
END $$;

-- Store one message. Returns the message JSON and whether it was created now
-- (false: the client_id was seen before and the first message is returned).
--   p_status: when not NULL, the dialog's new status (system events), stored on the
--             message and applied to the dialog in the same transaction.
--   p_assign: with p_status, the new assigned operator (NULL clears it when p_status is
--             'ai', 'waiting' or 'closed'; kept for 'operator' when NULL).
-- A visitor message to a dialog in status 'ai' creates or grows the pending answer job.
CREATE FUNCTION chatai_post_message(p_dialog bigint, p_sender text, p_text text,
                                    p_client_id text DEFAULT NULL, p_operator bigint DEFAULT NULL,
                                    p_event text DEFAULT NULL, p_status text DEFAULT NULL,
                                    p_assign bigint DEFAULT NULL,
                                    OUT message jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    d        dialogs;
    m        messages;
    v_aud    text;
    v_kind   text;
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

    INSERT INTO messages (dialog_id, seq, sender, text, client_id, audience, event, status, operator_id)
    VALUES (p_dialog, d.last_seq, p_sender, p_text, p_client_id, v_aud, p_event,
            CASE WHEN p_event IS NOT NULL THEN d.status END, p_operator)
    RETURNING * INTO m;

    v_json := chatai_message_json(m);
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

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (1, '001_schema.sql') ON CONFLICT (version) DO NOTHING;
