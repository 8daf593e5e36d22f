-- SPDX-License-Identifier: MIT
-- ChatAI: what the assistant worker (chatai-ai, folder ai/) calls; chatai.fcgi calls the
-- same claim and finish when it answers a job itself (fcgi/inlineai.h).
--
-- The job queue is answer_jobs. A worker claims a job with chatai_ai_claim()
-- (FOR UPDATE SKIP LOCKED, with a lease in locked_until so that the job of a crashed
-- worker is taken again), computes the answer outside any transaction, and ends the job
-- with chatai_ai_finish(), which stores the answer and finishes the job row in ONE
-- transaction. The answer carries the deterministic client_id 'ai-job-<id>-<up_to_seq>',
-- and chatai_post_message() is idempotent on client_id, so a job retried after a crash
-- can never store a second answer.
--
-- Jobs of one dialog run one at a time, oldest first: a job is claimable only when no
-- older unfinished job of its dialog exists, so the answers keep the order of the
-- questions even with many workers.

-- ---------------------------------------------------------------------------------------
-- The job queue.

-- Claim the next ready job for worker p_worker with a lease of p_lease seconds.
-- Ready: pending, or running with an expired lease (its worker died or hangs), and the
-- oldest unfinished job of its dialog. Returns no row when nothing is ready.
CREATE FUNCTION chatai_ai_claim(p_worker text, p_lease int) RETURNS SETOF answer_jobs
LANGUAGE plpgsql AS $$
DECLARE
    j answer_jobs;
BEGIN
    SELECT * INTO j FROM answer_jobs a
     WHERE (a.state = 'pending' OR (a.state = 'running' AND a.locked_until < now()))
       AND NOT EXISTS (SELECT 1 FROM answer_jobs b
                        WHERE b.dialog_id = a.dialog_id AND b.id < a.id
                          AND b.state IN ('pending', 'running'))
     ORDER BY a.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE answer_jobs
       SET state = 'running', attempts = attempts + 1, locked_by = p_worker,
           locked_until = now() + make_interval(secs => p_lease), updated_at = now()
     WHERE id = j.id
    RETURNING * INTO j;
    RETURN NEXT j;
END $$;

-- Put a claimed job back for a later attempt (the worker could not finish it, e.g. the
-- database went away mid-job): it stays running and becomes ready after p_delay seconds.
CREATE FUNCTION chatai_ai_retry(p_job bigint, p_worker text, p_error text, p_delay int) RETURNS void
LANGUAGE sql AS $$
    UPDATE answer_jobs
       SET locked_until = now() + make_interval(secs => p_delay), last_error = p_error, updated_at = now()
     WHERE id = p_job AND state = 'running' AND locked_by = p_worker
$$;

-- End job p_job of worker p_worker, in the caller's (single) transaction:
--   p_text      the answer to store as an 'ai' message (NULL: no answer);
--   p_failed    the answer is the fallback (the assistant could not answer): the
--               dialog's ai_failures grows and reaching max_failures hands off;
--               otherwise a stored answer resets ai_failures;
--   p_handoff   hand the dialog to a human now (the visitor asked for one);
--   p_handoff_text  the text of the handoff_requested message;
--   p_state     the job's final state, 'done' or 'failed';
--   p_typing    a typing_start may be showing: send typing_stop (who 'ai') after the
--               answer, whatever happened.
-- The dialog status is checked under its row lock: outside 'ai' nothing is stored.
-- Returns what happened:
--   'lost'      the job is no longer this worker's (its lease ran out and another
--               worker took it): nothing done;
--   'silent'    the dialog is not in status 'ai': job done, no answer;
--   'answered'  answer stored ('handoff' when a handoff followed);
--   'duplicate' the answer of this job was stored before (a retried job): not again.
CREATE FUNCTION chatai_ai_finish(p_job bigint, p_worker text, p_text text, p_failed boolean,
                                 p_handoff boolean, p_handoff_text text, p_state text DEFAULT 'done',
                                 p_typing boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    j         answer_jobs;
    d         dialogs;
    v_max     int;
    v_created boolean;
    v_outcome text;
BEGIN
    IF p_state NOT IN ('done', 'failed') THEN
        RAISE EXCEPTION 'bad final job state %', p_state USING ERRCODE = '22023';
    END IF;
    SELECT * INTO j FROM answer_jobs WHERE id = p_job FOR UPDATE;
    IF NOT FOUND OR j.state <> 'running' OR j.locked_by IS DISTINCT FROM p_worker THEN
        RETURN 'lost';
    END IF;
    SELECT * INTO d FROM dialogs WHERE id = j.dialog_id FOR UPDATE;
    SELECT max_failures INTO v_max FROM assistants WHERE id = d.assistant_id;

    IF d.status <> 'ai' THEN
        v_outcome := 'silent';
    ELSE
        v_outcome := 'answered';
        IF p_text IS NOT NULL THEN
            SELECT created INTO v_created
              FROM chatai_post_message(d.id, 'ai', p_text, 'ai-job-' || j.id || '-' || j.up_to_seq,
                                       NULL, NULL, NULL, NULL);
            IF NOT v_created THEN
                v_outcome := 'duplicate';
            ELSIF p_failed THEN
                UPDATE dialogs SET ai_failures = ai_failures + 1 WHERE id = d.id
                RETURNING * INTO d;
            ELSE
                UPDATE dialogs SET ai_failures = 0 WHERE id = d.id;
            END IF;
        END IF;
        IF v_outcome <> 'duplicate' AND (p_handoff OR (p_failed AND d.ai_failures >= v_max)) THEN
            PERFORM chatai_ai_handoff(d.id, p_handoff_text);
            v_outcome := 'handoff';
        END IF;
    END IF;

    UPDATE answer_jobs
       SET state = p_state, locked_until = NULL, updated_at = now(),
           last_error = CASE WHEN v_outcome = 'silent' THEN 'dialog status ' || d.status ELSE last_error END
     WHERE id = p_job;
    IF p_typing THEN
        PERFORM chatai_typing(d.id, 'ai', 'stop');
    END IF;
    -- The next job of this dialog was blocked behind this one: wake the workers.
    IF EXISTS (SELECT 1 FROM answer_jobs WHERE dialog_id = d.id AND state = 'pending') THEN
        PERFORM pg_notify('chatai_jobs', d.id::text);
    END IF;
    RETURN v_outcome;
END $$;

-- Seconds until the next thing that no notification announces: a lease running out or
-- a waiting dialog reaching its timeout. NULL when there is none.
CREATE FUNCTION chatai_ai_next_deadline() RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT EXTRACT(epoch FROM LEAST(
        (SELECT min(locked_until) FROM answer_jobs WHERE state = 'running'),
        (SELECT min(d.waiting_since + make_interval(secs => a.waiting_timeout))
           FROM dialogs d JOIN assistants a ON a.id = d.assistant_id
          WHERE d.status = 'waiting' AND a.waiting_timeout IS NOT NULL)) - now())::double precision
$$;

-- ---------------------------------------------------------------------------------------
-- The workers check in. chatai.fcgi looks at ai_workers after a visitor's message has
-- been answered: when no worker checked in within a few seconds (a shared host with no
-- daemon and no cron), the request answers the dialog's job itself, after its own
-- response went out, through the same claim and finish: the same lease, the same
-- exactly-once rules.

-- A worker is alive: its row is newer than now() - within.
CREATE FUNCTION chatai_ai_heartbeat(worker text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO ai_workers (worker_id, seen_at) VALUES (worker, now())
    ON CONFLICT (worker_id) DO UPDATE SET seen_at = now();
    -- Rows of workers that died without a word are of no use to anybody.
    DELETE FROM ai_workers WHERE seen_at < now() - interval '1 hour';
$$;

CREATE FUNCTION chatai_ai_goodbye(worker text) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM ai_workers WHERE worker_id = worker;
$$;

CREATE FUNCTION chatai_ai_worker_alive(within interval) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ai_workers WHERE seen_at > now() - within);
$$;

-- ---------------------------------------------------------------------------------------
-- A human instead.

-- Whether an operator is online: the one rule, chatai_operators_online() (003_auth.sql),
-- under the name the mail pass (chatai_mail_claim) asks.
CREATE FUNCTION chatai_ai_operators_online() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT chatai_operators_online()
$$;

-- Hand dialog p_dialog to a human: a handoff_requested system message (status waiting)
-- and the reset of ai_failures (the offline notice follows by the trigger
-- messages_offline_notice). Does nothing and returns false unless the dialog is in
-- status 'ai'.
CREATE FUNCTION chatai_ai_handoff(p_dialog bigint, p_text text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    d dialogs;
BEGIN
    SELECT * INTO d FROM dialogs WHERE id = p_dialog FOR UPDATE;
    IF NOT FOUND OR d.status <> 'ai' THEN
        RETURN false;
    END IF;
    PERFORM chatai_post_message(p_dialog, 'system', p_text, NULL, NULL, 'handoff_requested', 'waiting', NULL);
    UPDATE dialogs SET ai_failures = 0 WHERE id = p_dialog;
    RETURN true;
END $$;

-- Offline hours: whoever asks for a human (the worker, the widget's button through
-- chatai.fcgi, a future writer), when no operator is online the visitor is told so by
-- an offline_notice system message with the assistant's offline_message, and the
-- dialog keeps waiting. Called by a deferred trigger (messages_offline_notice), so that
-- it runs at the end of the writing transaction: the notice gets the next seq and its
-- NOTIFY leaves after the handoff's, and a takeover in the same transaction (status no
-- longer waiting) needs no notice.
CREATE FUNCTION chatai_ai_offline_notice() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_status  text;
    v_offline text;
BEGIN
    IF chatai_operators_online() THEN
        RETURN NULL;
    END IF;
    SELECT d.status, a.offline_message INTO v_status, v_offline
      FROM dialogs d JOIN assistants a ON a.id = d.assistant_id
     WHERE d.id = NEW.dialog_id FOR UPDATE OF d;
    IF v_status IS DISTINCT FROM 'waiting' OR btrim(v_offline) = ''
       OR EXISTS (SELECT 1 FROM messages m WHERE m.dialog_id = NEW.dialog_id AND m.seq > NEW.seq
                                             AND m.event = 'offline_notice') THEN
        RETURN NULL;
    END IF;
    PERFORM chatai_post_message(NEW.dialog_id, 'system', v_offline, NULL, NULL, 'offline_notice', NULL, NULL);
    RETURN NULL;
END $$;

-- Give every dialog that has waited longer than its assistant's waiting_timeout back to
-- the assistant, with a dialog_released system message p_text (status ai). Each dialog
-- is re-checked under its row lock; dialogs another transaction holds are left for the
-- next sweep. Returns how many were released.
CREATE FUNCTION chatai_ai_release_waiting(p_text text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    n    int := 0;
BEGIN
    FOR v_id IN
        SELECT d.id FROM dialogs d JOIN assistants a ON a.id = d.assistant_id
         WHERE d.status = 'waiting' AND a.waiting_timeout IS NOT NULL
           AND d.waiting_since + make_interval(secs => a.waiting_timeout) <= now()
         ORDER BY d.waiting_since
         FOR UPDATE OF d SKIP LOCKED
    LOOP
        PERFORM chatai_post_message(v_id, 'system', p_text, NULL, NULL, 'dialog_released', 'ai', NULL);
        UPDATE dialogs SET ai_failures = 0 WHERE id = v_id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ---------------------------------------------------------------------------------------
-- Knowledge-base search for assistant p_assistant: the best p_limit entries for question
-- p_q scoring at least the assistant's match_threshold, best first. Three rounds; the
-- first that finds something wins:
--   1. the question as a web-search query: every word must match (question or answer);
--   2. any two of its words in an entry's question;
--   3. any one of its words in an entry's question.
-- Rounds 2 and 3 (OR semantics) let a question with extra words still find its entry;
-- they match against the entries' questions only (weight A), where the intent is, and
-- scale the score by the share of the question's words found in the entry. Both are
-- answered from the GIN index: one common word of the answers' phrasing does not turn
-- every entry into a candidate. Scores are ts_rank_cd normalised into [0, 1).
CREATE FUNCTION chatai_kb_search(p_assistant bigint, p_q text, p_limit int)
RETURNS TABLE (id bigint, question text, answer text, score real)
LANGUAGE plpgsql STABLE
-- Plan each search with its own query: a generic plan (the tsquery unknown) scans the
-- whole table instead of using the GIN index.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_cfg       regconfig;
    v_threshold real;
    v_strict    tsquery;
    v_query     tsquery;
    v_or        tsquery;
    v_lexemes   text[];
    v_quoted    text[];
    v_n         int;
BEGIN
    SELECT a.ts_config, a.match_threshold INTO v_cfg, v_threshold FROM assistants a WHERE a.id = p_assistant;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_strict := websearch_to_tsquery(v_cfg, p_q);
    IF numnode(v_strict) > 0 THEN
        RETURN QUERY
            SELECT k.id, k.question, k.answer, ts_rank_cd(k.tsv, v_strict, 32) AS s
              FROM knowledge k
             WHERE k.assistant_id = p_assistant AND k.tsv @@ v_strict
               AND ts_rank_cd(k.tsv, v_strict, 32) >= v_threshold
             ORDER BY s DESC, k.id
             LIMIT p_limit;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    -- The question's lexemes (already normalised: used as they are, quoted for the
    -- tsquery syntax, restricted to weight A), the longest (usually rarest) 12.
    SELECT array_agg(l ORDER BY length(l) DESC, l),
           array_agg('''' || replace(replace(l, '\', '\\'), '''', '''''') || ''':A' ORDER BY length(l) DESC, l)
      INTO v_lexemes, v_quoted
      FROM (SELECT l FROM unnest(tsvector_to_array(to_tsvector(v_cfg, p_q))) AS l
             ORDER BY length(l) DESC, l LIMIT 12) t;
    v_n := COALESCE(cardinality(v_lexemes), 0);
    IF v_n = 0 THEN
        RETURN;
    END IF;
    -- Candidates come from the round's query; the rank from the plain OR query (cheaper
    -- to rank than the pairs).
    v_or := array_to_string(v_quoted, ' | ')::tsquery;
    FOR v_round IN 2..3 LOOP
        IF v_round = 2 THEN
            CONTINUE WHEN v_n < 3;  -- two words of two: round 1 already tried
            SELECT string_agg('(' || a.q || ' & ' || b.q || ')', ' | ')::tsquery INTO v_query
              FROM unnest(v_quoted) WITH ORDINALITY a(q, i)
              JOIN unnest(v_quoted) WITH ORDINALITY b(q, i) ON a.i < b.i;
        ELSE
            v_query := v_or;
        END IF;
        RETURN QUERY
            SELECT r.id, r.question, r.answer, (r.rank * r.found / v_n)::real AS s
              FROM (SELECT k.id, k.question, k.answer, ts_rank_cd(k.tsv, v_or, 32) AS rank,
                           length(k.tsv) - length(ts_delete(k.tsv, v_lexemes)) AS found
                      FROM knowledge k
                     WHERE k.assistant_id = p_assistant AND k.tsv @@ v_query) r
             WHERE r.rank * r.found / v_n >= v_threshold
             ORDER BY s DESC, r.id
             LIMIT p_limit;
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
END $$;

INSERT INTO schema_migrations (version, name) VALUES (5, '005_ai.sql') ON CONFLICT (version) DO NOTHING;
