# SPDX-License-Identifier: MIT
# sql/: numbered migrations, installed under $(pkgdatadir)/sql and applied by chatai-ctl migrate.
# Each file ends by recording itself in schema_migrations (docs/internals.md, "Database").
sqldir = $(pkgdatadir)/sql
# Every migration is listed here and only here, in order (chatai-ctl migrate applies them by
# number); the comment says which programs call a file's functions. 001-008 are the
# baseline of the first release: the tables, then the functions by area, then the triggers.
# Every table and index, and the one row of mail_health.
dist_sql_DATA = sql/001_tables.sql
# Storing a message (chatai_post_message), its JSON and a dialog's, typing: every program.
dist_sql_DATA += sql/002_messages.sql
# Sessions, visitor tokens, stream tickets, operators online, cache notifications:
# chatai.fcgi, chatai-notifier, chatai-ai.
dist_sql_DATA += sql/003_auth.sql
# The REST writes (chatai_rest_*, chatai_rate_hit): chatai.fcgi.
dist_sql_DATA += sql/004_rest.sql
# The worker's SQL (claim, finish, heartbeat, handoff, knowledge search): chatai-ai, and
# chatai.fcgi when it answers a job itself (fcgi/inlineai.h).
dist_sql_DATA += sql/005_ai.sql
# The admin side (operators, assistants, knowledge, notes, search): REST and chatai-ctl.
dist_sql_DATA += sql/006_admin.sql
# Mail (contacts, resume tokens, the outbox): chatai.fcgi, chatai-ai, chatai-ctl.
dist_sql_DATA += sql/007_mail.sql
# Every trigger, naming the functions above.
dist_sql_DATA += sql/008_triggers.sql
