# SPDX-License-Identifier: MIT
# sql/: numbered migrations, installed under $(pkgdatadir)/sql and applied by chatai-ctl migrate.
# Each file ends by recording itself in schema_migrations (docs/internals.md, "Database").
sqldir = $(pkgdatadir)/sql
# Every migration is listed here and only here, in order (chatai-ctl migrate applies them by
# number); the comment says which programs call a file's functions.
dist_sql_DATA = sql/001_schema.sql
# The REST functions (chatai_rest_*): chatai.fcgi.
dist_sql_DATA += sql/002_rest.sql
# The worker's SQL (claim, finish, knowledge search): chatai-ai, and chatai.fcgi when it
# answers a job itself (fcgi/inlineai.h).
dist_sql_DATA += sql/004_ai.sql
# Faster forms of REST functions: chatai.fcgi.
dist_sql_DATA += sql/005_rest_speed.sql
# The workers' heartbeat: chatai-ai, read by chatai.fcgi.
dist_sql_DATA += sql/006_ai_heartbeat.sql
# Stream tickets (the short-lived credential of /ws and /sse): chatai.fcgi, chatai-notifier.
dist_sql_DATA += sql/007_stream_tickets.sql
# The admin side (operators, assistants, knowledge, notes, search): REST and chatai-ctl.
dist_sql_DATA += sql/008_admin.sql
# One home per rule (issue 13): operators online, the typing check.
dist_sql_DATA += sql/009_one_rule.sql
# Mail (contacts, read positions, resume tokens, the outbox): chatai.fcgi, chatai-ai, chatai-ctl.
dist_sql_DATA += sql/010_mail.sql
# A new password ends the operator's other sessions (issue 14).
dist_sql_DATA += sql/011_password_revoke.sql
# A dialog opens to several visitor tokens: a resume no longer signs the first browser out (issue 15).
dist_sql_DATA += sql/012_resume_tokens.sql
