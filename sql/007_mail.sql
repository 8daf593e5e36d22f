-- SPDX-License-Identifier: MIT
-- ChatAI: mail when nobody is watching (chatai.fcgi, chatai-ai, chatai-ctl).
--
-- A visitor leaves an email address on the dialog (dialog_contacts, with the time of
-- consent); the widget reports how far the visitor has read (dialogs.visitor_read_seq).
-- Mails wait in mail_outbox. A row is written by a trigger IN THE TRANSACTION of the event
-- that causes it (a reply stored, a dialog gone waiting, a transcript asked, a dialog
-- closed), and its key (kind, dialog_id, upto_seq) makes each mail exist once:
--   alert       upto_seq 0: once per dialog; sent as one digest with every other due alert
--   reply       one queued row per dialog, stretched over later replies (from_seq..upto_seq)
--   transcript  upto_seq: the dialog's last message when asked (asking twice is one mail)
-- The delays (mail_reply_delay, mail_alert_delay) are settings of the programs, so they
-- are applied by the claim (chatai_mail_claim), not here.
--
-- Never twice: a sender marks its rows 'sending' and commits BEFORE it talks to the mail
-- server, holding a session advisory lock per row (key pair 1835100524, id mod 2^31) as long
-- as it sends. A row found 'sending' whose lock is free belongs to a sender that died
-- (its connection closed, and the lock with it); it is marked 'uncertain', never sent
-- again (docs/internals.md, "Mail").

-- ---------------------------------------------------------------------------------------
-- Queued by triggers (008_triggers.sql).

-- A reply (operator or assistant, shown to the visitor) to a dialog with a contact.
CREATE FUNCTION chatai_mail_on_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Which messages are replies: messages_mail's WHEN (008_triggers.sql).
    IF EXISTS (SELECT 1 FROM dialog_contacts c WHERE c.dialog_id = NEW.dialog_id) THEN
        INSERT INTO mail_outbox (kind, dialog_id, from_seq, upto_seq)
        VALUES ('reply', NEW.dialog_id, NEW.seq, NEW.seq)
        ON CONFLICT (dialog_id) WHERE kind = 'reply' AND state = 'queued'
        DO UPDATE SET upto_seq = EXCLUDED.upto_seq;
    END IF;
    RETURN NULL;
END $$;

-- A dialog gone waiting (alert, once per dialog); closed with a transcript asked for.
CREATE FUNCTION chatai_mail_on_dialog() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only a status that changed to waiting or closed: dialogs_mail's WHEN (008_triggers.sql).
    IF NEW.status = 'waiting' THEN
        INSERT INTO mail_outbox (kind, dialog_id) VALUES ('alert', NEW.id) ON CONFLICT DO NOTHING;
    ELSIF EXISTS (SELECT 1 FROM dialog_contacts c WHERE c.dialog_id = NEW.id AND c.transcript_on_close) THEN
        INSERT INTO mail_outbox (kind, dialog_id, upto_seq) VALUES ('transcript', NEW.id, NEW.last_seq)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------------------------------
-- Asked by the visitor.

-- POST .../contact: store (or replace) the contact and tell the operators in the dialog.
CREATE FUNCTION chatai_mail_contact(p_dialog bigint, p_email text, p_name text,
                                    p_on_close boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dialog_contacts (dialog_id, email, name, transcript_on_close)
    VALUES (p_dialog, p_email, p_name, p_on_close)
    ON CONFLICT (dialog_id) DO UPDATE
       SET email = EXCLUDED.email, name = EXCLUDED.name, consent_at = now(),
           transcript_on_close = EXCLUDED.transcript_on_close, updated_at = now();
    PERFORM chatai_post_message(p_dialog, 'system',
        'We will email the answer to ' || p_email || ' if you are away.');
END $$;

-- POST .../transcript: 1 when queued (or already queued for this point), 0 without contact.
CREATE FUNCTION chatai_mail_transcript(p_dialog bigint) RETURNS int
LANGUAGE sql AS $$
    WITH c AS (SELECT d.id, d.last_seq FROM dialogs d JOIN dialog_contacts k ON k.dialog_id = d.id
               WHERE d.id = p_dialog),
         i AS (INSERT INTO mail_outbox (kind, dialog_id, upto_seq) SELECT 'transcript', id, last_seq FROM c
               ON CONFLICT DO NOTHING RETURNING 1)
    SELECT count(*)::int FROM c
$$;

-- A resume link (POST /api/widget/resume) adds a visitor token to the dialog it names
-- (dialog_visitor_tokens); the tokens the dialog already has keep working, so the browser
-- that began the dialog keeps it. Nothing cached can be wrong (the caches hold only tokens
-- that were found), so there is no notification. Returns the dialog's assistant.
CREATE FUNCTION chatai_mail_resume(p_dialog bigint, p_new_hash text) RETURNS bigint
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

-- ---------------------------------------------------------------------------------------
-- Sent by chatai-ai (ai/mailq.c).

-- Claim what is due, for one mail: every due alert (one digest), else one reply or
-- transcript. First, rows of dead senders become 'uncertain', and rows that no longer
-- need a mail become 'skipped' (a reply the visitor has read, an alert of a dialog that
-- no longer waits). Each claimed row is 'sending' and session-locked when this returns.
CREATE FUNCTION chatai_mail_claim(p_worker text, p_domain text, p_reply_delay int,
                                  p_alert_delay int)
RETURNS SETOF mail_outbox
LANGUAGE plpgsql AS $$
DECLARE
    r   mail_outbox;
    ids bigint[];
BEGIN
    FOR r IN SELECT * FROM mail_outbox WHERE state = 'sending' FOR UPDATE SKIP LOCKED LOOP
        IF pg_try_advisory_xact_lock(1835100524, (r.id % 2147483648)::int) THEN
            UPDATE mail_outbox SET state = 'uncertain',
                   last_error = 'the sender stopped during the send; not resent (it may have arrived)'
             WHERE id = r.id;
        END IF;
    END LOOP;
    UPDATE mail_outbox o SET state = 'skipped', last_error = 'read by the visitor'
      FROM dialogs d WHERE o.state = 'queued' AND o.kind = 'reply' AND d.id = o.dialog_id
       AND d.visitor_read_seq >= o.upto_seq;
    UPDATE mail_outbox o SET state = 'skipped', last_error = 'no longer waiting'
      FROM dialogs d WHERE o.state = 'queued' AND o.kind = 'alert' AND d.id = o.dialog_id
       AND d.status <> 'waiting';

    IF NOT chatai_ai_operators_online() THEN
        SELECT array_agg(id) INTO ids FROM (
            SELECT id FROM mail_outbox WHERE state = 'queued' AND kind = 'alert' AND next_at <= now()
               AND created_at <= now() - make_interval(secs => p_alert_delay)
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) a;
    END IF;
    IF ids IS NULL THEN
        SELECT array_agg(id) INTO ids FROM (
            SELECT id FROM mail_outbox WHERE state = 'queued' AND next_at <= now()
               AND (kind = 'transcript'
                    OR (kind = 'reply' AND created_at <= now() - make_interval(secs => p_reply_delay)))
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) a;
    END IF;
    IF ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_lock(1835100524, (i % 2147483648)::int) FROM unnest(ids) i;
    RETURN QUERY UPDATE mail_outbox SET state = 'sending', attempts = attempts + 1, locked_by = p_worker,
                        message_id = '<chatai-mail-' || (SELECT min(x) FROM unnest(ids) x)
                                     || '.' || floor(extract(epoch FROM now()))::bigint || '@' || p_domain || '>'
                  WHERE id = ANY (ids) RETURNING *;
END $$;

-- The outcome of a send: p_state 'sent', 'queued' (retry after p_delay seconds), 'failed'
-- or 'uncertain'. Frees the rows' locks and records mail health.
CREATE FUNCTION chatai_mail_result(p_ids bigint[], p_state text, p_error text, p_delay int)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mail_outbox SET state = p_state, last_error = p_error,
           sent_at = CASE WHEN p_state = 'sent' THEN now() END,
           next_at = now() + make_interval(secs => COALESCE(p_delay, 0))
     WHERE id = ANY (p_ids) AND state = 'sending';
    IF p_state = 'sent' THEN
        UPDATE mail_health SET last_success_at = now();
    ELSIF p_state <> 'skipped' THEN
        UPDATE mail_health SET last_error_at = now(), last_error = p_error;
    END IF;
    PERFORM pg_advisory_unlock(1835100524, (i % 2147483648)::int) FROM unnest(p_ids) i;
END $$;

-- ---------------------------------------------------------------------------------------
-- Read.

-- For operators: the contact, how far the visitor read, and each mail's state.
CREATE FUNCTION chatai_mail_dialog_json(p_dialog bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'contact', (SELECT jsonb_build_object('email', c.email, 'name', c.name,
                                              'consent_at', chatai_ts(c.consent_at),
                                              'transcript_on_close', c.transcript_on_close)
                      FROM dialog_contacts c WHERE c.dialog_id = d.id),
        'visitor_read_seq', d.visitor_read_seq,
        'mails', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', o.id, 'kind', o.kind,
                                   'from_seq', o.from_seq, 'upto_seq', o.upto_seq,
                                   'state', CASE WHEN o.state = 'sending' THEN 'queued' ELSE o.state END,
                                   'attempts', o.attempts, 'error', o.last_error,
                                   'sent_at', chatai_ts(o.sent_at)) ORDER BY o.id)
                             FROM mail_outbox o WHERE o.dialog_id = d.id), '[]'::jsonb))
      FROM dialogs d WHERE d.id = p_dialog
$$;

-- Whether mail works, for /health, the metrics and `chatai-ctl check`.
CREATE FUNCTION chatai_mail_health() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'queued', (SELECT count(*) FROM mail_outbox WHERE state IN ('queued', 'sending')),
        'failed', (SELECT count(*) FROM mail_outbox WHERE state IN ('failed', 'uncertain')),
        'last_success_at', chatai_ts(h.last_success_at),
        'last_error_at', chatai_ts(h.last_error_at),
        'last_error', h.last_error)
      FROM mail_health h
$$;

INSERT INTO schema_migrations (version, name) VALUES (7, '007_mail.sql') ON CONFLICT (version) DO NOTHING;
