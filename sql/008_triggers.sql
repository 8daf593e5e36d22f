-- SPDX-License-Identifier: MIT
-- ChatAI: every trigger, in one place: what a write sets off whoever makes it (REST,
-- chatai-ai, chatai-ctl, psql). Each function lives in the file of its area, named on
-- the line above its trigger. Triggers on one table and event fire in name order.

-- ---------------------------------------------------------------------------------------
-- Operators and sessions (003_auth.sql).

-- No session for a disabled operator: the row is skipped.
CREATE TRIGGER sessions_guard BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION chatai_sessions_guard();
-- A session revoked, shortened or deleted: {"k":"revoke"} (REST caches, the notifier's streams).
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION chatai_sessions_changed();
-- An operator's name, email or role changed, or last_seen_at moved back: {"k":"operator"}.
CREATE TRIGGER operators_changed AFTER UPDATE ON operators
    FOR EACH ROW EXECUTE FUNCTION chatai_operators_changed();
-- An assistant's allowed origins changed, or it went: {"k":"assistant"}.
CREATE TRIGGER assistants_changed AFTER UPDATE OR DELETE ON assistants
    FOR EACH ROW EXECUTE FUNCTION chatai_assistants_changed();

-- ---------------------------------------------------------------------------------------
-- Visitors' tokens (003_auth.sql): dialogs.visitor_token_hash mirrored in
-- dialog_visitor_tokens; a token that goes leaves the REST caches.

CREATE TRIGGER dialogs_token_added AFTER INSERT ON dialogs
    FOR EACH ROW EXECUTE FUNCTION chatai_dialog_token_sync();
CREATE TRIGGER dialogs_token_changed AFTER UPDATE OF visitor_token_hash ON dialogs
    FOR EACH ROW WHEN (OLD.visitor_token_hash IS DISTINCT FROM NEW.visitor_token_hash)
    EXECUTE FUNCTION chatai_dialog_token_sync();
CREATE TRIGGER dialog_visitor_tokens_gone AFTER DELETE ON dialog_visitor_tokens
    FOR EACH ROW EXECUTE FUNCTION chatai_dialog_token_gone();

-- ---------------------------------------------------------------------------------------
-- A handoff while no operator is online: the offline notice (005_ai.sql), deferred to
-- the end of the writing transaction.

CREATE CONSTRAINT TRIGGER messages_offline_notice
    AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.event = 'handoff_requested')
    EXECUTE FUNCTION chatai_ai_offline_notice();

-- ---------------------------------------------------------------------------------------
-- Mail queued in the transaction of its cause (007_mail.sql).

-- The WHEN clauses say which rows can queue mail: a visitor's message, or an UPDATE that
-- names status without changing it (every post does), queues no trigger event at all.
CREATE TRIGGER messages_mail AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.sender IN ('manager', 'ai') AND NEW.audience = 'all' AND NEW.event IS NULL)
    EXECUTE FUNCTION chatai_mail_on_message();
CREATE TRIGGER dialogs_mail AFTER UPDATE OF status ON dialogs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('waiting', 'closed'))
    EXECUTE FUNCTION chatai_mail_on_dialog();

INSERT INTO schema_migrations (version, name) VALUES (8, '008_triggers.sql') ON CONFLICT (version) DO NOTHING;
