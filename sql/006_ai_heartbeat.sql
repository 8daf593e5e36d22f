-- SPDX-License-Identifier: MIT
-- ChatAI schema 006: the assistant workers check in.
--
-- Every running chatai-ai writes its row of ai_workers every few seconds (and deletes it
-- when it stops). chatai.fcgi looks here after a visitor's message has been answered:
-- when no worker checked in within a few seconds (a shared host with no daemon and no
-- cron), the request answers the dialog's job itself, after its own response went out,
-- through the same claim and finish (chatai_ai_claim, chatai_ai_finish of 004_ai.sql):
-- the same lease, the same exactly-once rules.

CREATE UNLOGGED TABLE IF NOT EXISTS ai_workers (
    worker_id text PRIMARY KEY,
    seen_at   timestamptz NOT NULL DEFAULT now()
);

-- A worker is alive: its row is newer than now() - within.
CREATE OR REPLACE FUNCTION chatai_ai_heartbeat(worker text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO ai_workers (worker_id, seen_at) VALUES (worker, now())
    ON CONFLICT (worker_id) DO UPDATE SET seen_at = now();
    -- Rows of workers that died without a word are of no use to anybody.
    DELETE FROM ai_workers WHERE seen_at < now() - interval '1 hour';
$$;

CREATE OR REPLACE FUNCTION chatai_ai_goodbye(worker text) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM ai_workers WHERE worker_id = worker;
$$;

CREATE OR REPLACE FUNCTION chatai_ai_worker_alive(within interval) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ai_workers WHERE seen_at > now() - within);
$$;

-- Recorded by the file itself (chatai-ctl migrate records it too), so that applying it by
-- hand (psql -1 -v ON_ERROR_STOP=1 -f) leaves what the next `chatai-ctl migrate` expects.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) VALUES (6, '006_ai_heartbeat.sql') ON CONFLICT (version) DO NOTHING;
