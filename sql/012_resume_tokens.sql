-- SPDX-License-Identifier: MIT
-- ChatAI schema 012: a dialog opens to several visitor tokens (issue 15).
--
-- A resume from a mail link (POST /api/widget/resume) used to replace
-- dialogs.visitor_token_hash, so the browser that began the dialog lost it (403). Now every
-- token that opens a dialog is a row of dialog_visitor_tokens: the one the dialog was made
-- with (kept in step with dialogs.visitor_token_hash by a trigger, so code and tests that
-- write that column keep working) and one more per resume. Everything that checks a visitor
-- token looks its hash up here: chatai.fcgi (fcgi/caller.c, whose cache is keyed by dialog
-- and token hash) and the notifier (notifier/auth.c).
--
-- Removing a row (or changing visitor_token_hash, which removes the old row) sends the
-- `assistant` notification, so that the REST caches forget the token at commit (005).

CREATE TABLE IF NOT EXISTS dialog_visitor_tokens (
    dialog_id  bigint NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    token_hash text NOT NULL,                -- hex SHA-256 of the visitor token
    created_at timestamptz NOT NULL DEFAULT now(),
    resumed    boolean NOT NULL DEFAULT false, -- made by a resume, not with the dialog
    PRIMARY KEY (dialog_id, token_hash)
);

-- The tokens dialogs were made with.
INSERT INTO dialog_visitor_tokens (token_hash, dialog_id, created_at)
SELECT visitor_token_hash, id, created_at FROM dialogs
ON CONFLICT DO NOTHING;

-- dialogs.visitor_token_hash is the dialog's first token: a new dialog adds its row, a
-- change of the column replaces that row (the resumed tokens stay).
CREATE OR REPLACE FUNCTION chatai_dialog_token_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM dialog_visitor_tokens WHERE token_hash = OLD.visitor_token_hash AND dialog_id = OLD.id;
    END IF;
    INSERT INTO dialog_visitor_tokens (token_hash, dialog_id) VALUES (NEW.visitor_token_hash, NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS dialogs_token_added ON dialogs;
CREATE TRIGGER dialogs_token_added AFTER INSERT ON dialogs
    FOR EACH ROW EXECUTE FUNCTION chatai_dialog_token_sync();
DROP TRIGGER IF EXISTS dialogs_token_changed ON dialogs;
CREATE TRIGGER dialogs_token_changed AFTER UPDATE OF visitor_token_hash ON dialogs
    FOR EACH ROW WHEN (OLD.visitor_token_hash IS DISTINCT FROM NEW.visitor_token_hash)
    EXECUTE FUNCTION chatai_dialog_token_sync();

-- A token that stops opening its dialog leaves the REST caches at commit.
CREATE OR REPLACE FUNCTION chatai_dialog_token_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chatai', jsonb_build_object('k', 'assistant', 'assistant_id', d.assistant_id)::text)
       FROM dialogs d WHERE d.id = OLD.dialog_id;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS dialog_visitor_tokens_gone ON dialog_visitor_tokens;
CREATE TRIGGER dialog_visitor_tokens_gone AFTER DELETE ON dialog_visitor_tokens
    FOR EACH ROW EXECUTE FUNCTION chatai_dialog_token_gone();

-- A resume adds a token; the tokens the dialog already has keep working. Nothing cached
-- can be wrong (the caches hold only tokens that were found), so there is no notification.
CREATE OR REPLACE FUNCTION chatai_mail_resume(p_dialog bigint, p_new_hash text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_assistant bigint;
BEGIN
    SELECT assistant_id INTO v_assistant FROM dialogs WHERE id = p_dialog;
    IF FOUND THEN
        INSERT INTO dialog_visitor_tokens (token_hash, dialog_id, resumed) VALUES (p_new_hash, p_dialog, true);
    END IF;
    RETURN v_assistant;
END $$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (12, '012_resume_tokens.sql') ON CONFLICT (version) DO NOTHING;
