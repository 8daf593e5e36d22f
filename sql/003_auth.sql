-- SPDX-License-Identifier: MIT
-- ChatAI: who may see what. Operators' sessions, visitors' tokens, stream tickets,
-- "operators online", and the notifications that keep the REST workers' caches right.
--
-- Caches in the REST workers (verified sessions, widget dialogs) are told at once when
-- what they hold changes, whoever changed it (REST, chatai-ctl, psql), by the triggers of
-- 008_triggers.sql that call the functions below, on channel 'chatai':
--   {"k":"revoke","session_id":N}        a session was revoked, shortened or deleted
--   {"k":"operator","operator_id":N}     an operator's name, email or role changed, or
--                                        last_seen_at was moved back (by hand)
--   {"k":"assistant","assistant_id":N}   an assistant's allowed origins changed or it went,
--                                        or a visitor token stopped opening its dialog
-- The notifier closes the streams of a revoked session; it ignores the other two.

-- ---------------------------------------------------------------------------------------
-- Operators' sessions.

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

CREATE FUNCTION chatai_assistants_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.allowed_origins IS DISTINCT FROM OLD.allowed_origins THEN
        PERFORM pg_notify('chatai', jsonb_build_object('k', 'assistant', 'assistant_id', OLD.id)::text);
    END IF;
    RETURN NULL;
END $$;

-- "Operators online" has one definition: an operator is online when
-- operators.last_seen_at is less than 120 seconds old AND the operator holds a session
-- that is neither revoked nor expired (and is not disabled; disabling revokes every
-- session anyway). last_seen_at moves on authenticated requests (at most once a minute,
-- fcgi/auth.c), so an operator with the panel open (it polls or holds a stream) stays
-- online; a logout ends the session, hence the presence, at once.
--
-- Who uses it: GET /api/widget/assistants/{id} (operators_online, fcgi/widget.c), the
-- offline notice of a handoff (chatai_ai_offline_notice(), 005_ai.sql) and, through
-- chatai_ai_operators_online(), the mail pass (an operator alert waits while one is
-- online). Redis's chatai:presence (redis_url set; common/credis.h) is a cache of it, not
-- a second rule: an entry is written on every authenticated request with a lifetime of
-- the same 120 s (CREDIS_PRESENCE_TTL) and removed at logout; the widget answers "online"
-- when either says so, so Redis only adds sightings the database has not recorded yet
-- (the write of last_seen_at is throttled), and may keep an operator whose session
-- expired or was revoked, rather than logged out, online for at most 120 s more.
CREATE FUNCTION chatai_operators_online() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM operators o
         WHERE o.last_seen_at > now() - interval '120 seconds' AND o.disabled_at IS NULL
           AND EXISTS (SELECT 1 FROM sessions s
                        WHERE s.operator_id = o.id AND s.revoked_at IS NULL AND s.expires_at > now()))
$$;

-- ---------------------------------------------------------------------------------------
-- Visitors' tokens (table dialog_visitor_tokens).

-- dialogs.visitor_token_hash is the dialog's first token: a new dialog adds its row, a
-- change of the column replaces that row (the resumed tokens stay).
CREATE FUNCTION chatai_dialog_token_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM dialog_visitor_tokens WHERE token_hash = OLD.visitor_token_hash AND dialog_id = OLD.id;
    END IF;
    INSERT INTO dialog_visitor_tokens (token_hash, dialog_id) VALUES (NEW.visitor_token_hash, NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

-- A token that stops opening its dialog (its row removed, or visitor_token_hash changed)
-- leaves the REST caches at commit.
CREATE FUNCTION chatai_dialog_token_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chatai', jsonb_build_object('k', 'assistant', 'assistant_id', d.assistant_id)::text)
       FROM dialogs d WHERE d.id = OLD.dialog_id;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------------------------------
-- Stream tickets (table stream_tickets; POST /api/stream-tickets for an operator, POST
-- /api/widget/dialogs/{id}/stream-tickets for a visitor; the notifier takes ?ticket=).

-- A new ticket (its hash): for an operator's session or a visitor's dialog. Expired ones
-- go at the same time, so the table stays as small as the tickets in flight.
CREATE FUNCTION chatai_stream_ticket(hash text, session bigint, dialog bigint, ttl int)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM stream_tickets WHERE expires_at < now();
    INSERT INTO stream_tickets (ticket_hash, session_id, dialog_id, expires_at)
    VALUES (hash, session, dialog, now() + make_interval(secs => ttl));
$$;

INSERT INTO schema_migrations (version, name) VALUES (3, '003_auth.sql') ON CONFLICT (version) DO NOTHING;
