# SPDX-License-Identifier: MIT
# sql/: numbered migrations, installed under $(pkgdatadir)/sql and applied by chatai-ctl migrate.
# Each file ends by recording itself in schema_migrations (docs/internals.md, "Database").
sqldir = $(pkgdatadir)/sql
dist_sql_DATA = sql/001_schema.sql
# The admin side (operators, assistants, knowledge, notes, search): REST and chatai-ctl.
dist_sql_DATA += sql/008_admin.sql
