# SPDX-License-Identifier: MIT
# sql/: numbered migrations, installed under $(pkgdatadir)/sql and applied by chatai-ctl migrate.
sqldir = $(pkgdatadir)/sql
dist_sql_DATA = sql/001_schema.sql
