-- SPDX-License-Identifier: MIT
-- ChatAI schema 007: single-use stream tickets.
--
-- A stream (WebSocket or SSE at the notifier) can authenticate with a ticket instead of
-- the bearer or visitor token in its URL, so that no lasting secret reaches an access log:
-- POST /api/stream-tickets (operator) or POST /api/widget/dialogs/{id}/stream-tickets
-- (visitor) returns a fresh ticket that the notifier takes with ?ticket= (docs/streams.md).
-- A ticket is stored as its SHA-256 (hex), lives 30 s, and is consumed by the first stream
-- that shows it (the notifier deletes the row in the query that reads it).

CREATE UNLOGGED TABLE IF NOT EXISTS stream_tickets (
    ticket_hash text PRIMARY KEY,
    -- an operator's ticket names its session; a visitor's its dialog
    session_id  bigint REFERENCES sessions (id) ON DELETE CASCADE,
    dialog_id   bigint REFERENCES dialogs (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    CHECK ((session_id IS NULL) <> (dialog_id IS NULL))
);
CREATE INDEX IF NOT EXISTS stream_tickets_expiry_idx ON stream_tickets (expires_at);

-- A new ticket (its hash): for an operator's session or a visitor's dialog. Expired ones
-- go at the same time, so the table stays as small as the tickets in flight.
CREATE OR REPLACE FUNCTION chatai_stream_ticket(hash text, session bigint, dialog bigint, ttl int)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM stream_tickets WHERE expires_at < now();
    INSERT INTO stream_tickets (ticket_hash, session_id, dialog_id, expires_at)
    VALUES (hash, session, dialog, now() + make_interval(secs => ttl));
$$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (7, '007_stream_tickets.sql') ON CONFLICT (version) DO NOTHING;
