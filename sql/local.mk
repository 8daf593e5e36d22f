# SPDX-License-Identifier: MIT
# sql/: numbered migrations, installed under $(pkgdatadir)/sql and applied by chatai-ctl migrate.
# Each file ends by recording itself in schema_migrations (docs/internals.md, "Database").
sqldir = $(pkgdatadir)/sql
dist_sql_DATA = sql/001_schema.sql
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
