-- SPDX-License-Identifier: MIT
-- ChatAI schema: every table and index, and the one row a fresh install needs.
-- Applied by `chatai-ctl migrate` inside one transaction; recorded in schema_migrations.
--
-- The files after this one hold the functions, one file per area, and the triggers:
--   002_messages.sql  how a message is stored (chatai_post_message()), the JSON of a message
--                     and a dialog, dialog events and typing
--   003_auth.sql      sessions, visitor tokens, stream tickets, "operators online", and the
--                     notifications that keep the REST workers' caches right
--   004_rest.sql      what the REST workers (chatai.fcgi) call: dialogs, posts, status, rate limits
--   005_ai.sql        the assistant worker (chatai-ai): the job queue, handoff, knowledge search
--   006_admin.sql     operators, assistants, knowledge, notes, assignment, search
--   007_mail.sql      mail when nobody is watching
--   008_triggers.sql  every trigger, with what it calls
-- A function is defined once, in the file of its area; a change to the schema after the
-- first release is a new file numbered above every existing one (docs/internals.md).

-- ---------------------------------------------------------------------------------------
-- Migrations: the record of what is applied. chatai-ctl migrate creates it too; each file
-- ends by inserting its own row, so that applying the files by hand (psql -1 -v
-- ON_ERROR_STOP=1 -f, in order) leaves what the next `chatai-ctl migrate` expects.

CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());

-- ---------------------------------------------------------------------------------------
-- Operators and their sessions.

CREATE TABLE operators (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL DEFAULT 'operator' CHECK (role IN ('admin', 'operator')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz,
    disabled_at   timestamptz
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

-- ---------------------------------------------------------------------------------------
-- Assistants and their knowledge.

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
-- "The same question" (chatai_knowledge_put): equal once trimmed and lower-cased.
CREATE INDEX knowledge_question_idx ON knowledge (assistant_id, lower(btrim(question)));

-- ---------------------------------------------------------------------------------------
-- Dialogs and messages.

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
    updated_at         timestamptz NOT NULL DEFAULT now(),
    visitor_read_seq   bigint NOT NULL DEFAULT 0   -- the visitor's read position (mail)
);
CREATE INDEX dialogs_updated_idx ON dialogs (updated_at DESC, id DESC);
CREATE INDEX dialogs_status_idx ON dialogs (status, updated_at DESC);
-- The waiting-timeout sweep (chatai_ai_release_waiting).
CREATE INDEX dialogs_waiting_idx ON dialogs (waiting_since) WHERE status = 'waiting';

-- Every visitor token that opens a dialog: the one the dialog was made with (kept in step
-- with dialogs.visitor_token_hash by the triggers dialogs_token_*, so code and tests that
-- write that column keep working) and one more per resume from a mail link. Everything
-- that checks a visitor token looks its hash up here: chatai.fcgi (fcgi/caller.c, whose
-- cache is keyed by dialog and token hash) and the notifier (notifier/auth.c).
CREATE TABLE dialog_visitor_tokens (
    dialog_id  bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    token_hash text NOT NULL,                -- hex SHA-256 of the visitor token
    created_at timestamptz NOT NULL DEFAULT now(),
    resumed    boolean NOT NULL DEFAULT false, -- made by a resume, not with the dialog
    PRIMARY KEY (dialog_id, token_hash)
);

-- A message's JSON is rendered once, when it is stored (json). Messages are immutable, so
-- a history read joins stored text instead of building JSON per row, and every path (REST
-- history, long-poll, inbox, the notifier's replay) sends the very bytes the NOTIFY carried.
-- audience: 'all' (site and admin channels), 'admin' (operators only: visitor messages and
-- operators' events), 'note' (a private note: admin channels and admin history only).
CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    dialog_id   bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    sender      text NOT NULL CHECK (sender IN ('user', 'ai', 'manager', 'system')),
    text        text NOT NULL,
    client_id   text,
    audience    text NOT NULL CHECK (audience IN ('all', 'admin', 'note')),
    event       text CHECK (event IS NULL OR event IN (
                    'handoff_requested', 'operator_joined', 'operator_left', 'dialog_closed',
                    'dialog_released', 'offline_notice', 'operator_assigned')),
    status      text,                                  -- the dialog's status after a system event
    operator_id bigint REFERENCES operators (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    json        text NOT NULL,                         -- chatai_message_json() of the row
    UNIQUE (dialog_id, seq),
    UNIQUE (dialog_id, client_id)
);
-- Search over message text ('simple' configuration: no stemming, any language).
CREATE INDEX messages_text_fts_idx ON messages USING gin (to_tsvector('simple'::regconfig, text));

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
-- The assistant's work.

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
-- Open jobs in claim order, and the per-dialog "older unfinished job" check.
CREATE INDEX answer_jobs_open_idx ON answer_jobs (id) WHERE state IN ('pending', 'running');
CREATE INDEX answer_jobs_dialog_open_idx ON answer_jobs (dialog_id, id) WHERE state IN ('pending', 'running');

-- Every running chatai-ai writes its row every few seconds (and deletes it when it stops);
-- chatai.fcgi answers a job itself when no worker checked in lately (fcgi/inlineai.h).
CREATE UNLOGGED TABLE ai_workers (
    worker_id text PRIMARY KEY,
    seen_at   timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------
-- Short-lived state: not worth a WAL write (a crash of PostgreSQL empties these tables).

-- Fixed-window counters for public routes (used when Redis is not configured). Emptied by
-- a crash, which only forgives the current minute. Old windows are swept by window_start.
CREATE UNLOGGED TABLE rate_limits (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    count        int NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);

-- Single-use stream tickets (docs/streams.md): a stream (WebSocket or SSE at the notifier)
-- can authenticate with one instead of the bearer or visitor token in its URL, so that no
-- lasting secret reaches an access log. Stored as its SHA-256 (hex), lives 30 s, consumed
-- by the first stream that shows it (the notifier deletes the row in the query that reads it).
CREATE UNLOGGED TABLE stream_tickets (
    ticket_hash text PRIMARY KEY,
    -- an operator's ticket names its session; a visitor's its dialog
    session_id  bigint REFERENCES sessions (id) ON DELETE CASCADE,
    dialog_id   bigint REFERENCES dialogs (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    CHECK ((session_id IS NULL) <> (dialog_id IS NULL))
);
CREATE INDEX stream_tickets_expiry_idx ON stream_tickets (expires_at);

-- ---------------------------------------------------------------------------------------
-- Mail (007_mail.sql says how a mail is queued and sent exactly once).

-- The email address a visitor left on the dialog, with the time of consent.
CREATE TABLE dialog_contacts (
    dialog_id           bigint PRIMARY KEY REFERENCES dialogs (id) ON DELETE CASCADE,
    email               text NOT NULL,
    name                text,
    consent_at          timestamptz NOT NULL DEFAULT now(),
    transcript_on_close boolean NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Links in reply mails: SHA-256 (hex) of >= 32 random bytes; 30 days.
CREATE TABLE resume_tokens (
    token_hash text PRIMARY KEY,
    dialog_id  bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL DEFAULT now() + interval '30 days'
);
CREATE INDEX resume_tokens_expiry_idx ON resume_tokens (expires_at);

CREATE TABLE mail_outbox (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('alert', 'reply', 'transcript')),
    dialog_id  bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    from_seq   bigint NOT NULL DEFAULT 0,
    upto_seq   bigint NOT NULL DEFAULT 0,
    state      text NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'uncertain', 'skipped')),
    attempts   int NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT now(),   -- earliest next try (backoff)
    locked_by  text,
    message_id text,                                  -- Message-ID of the mail that carried it
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    UNIQUE (kind, dialog_id, upto_seq)
);
CREATE UNIQUE INDEX mail_outbox_one_reply ON mail_outbox (dialog_id)
    WHERE kind = 'reply' AND state = 'queued';
CREATE INDEX mail_outbox_queued_idx ON mail_outbox (next_at) WHERE state IN ('queued', 'sending');

-- Whether mail works: one row, moved by every sender.
CREATE TABLE mail_health (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_success_at timestamptz,
    last_error_at   timestamptz,
    last_error      text
);
INSERT INTO mail_health DEFAULT VALUES;

INSERT INTO schema_migrations (version, name) VALUES (1, '001_tables.sql') ON CONFLICT (version) DO NOTHING;
