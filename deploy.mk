# SPDX-License-Identifier: MIT
# deploy.mk: what `make install` lays out besides the programs and sql/ (which their own
# local.mk install): the web/ tree, server configurations rendered with the install paths,
# systemd units, man pages, the example settings file.
#
#   $(pkgdatadir)/web/{admin,widget,shared}/        static files (the document root)
#   $(pkgdatadir)/examples/demo/                   the demo shop (not served; scripts/demo serves it)
#   $(pkgdatadir)/lighttpd/chatai.conf             lighttpd server configuration
#   $(pkgdatadir)/apache/chatai-site.conf          Apache directives for a <VirtualHost>
#   $(pkgdatadir)/apache/chatai-vhost.conf.example, balancer.conf.example, htaccess (shared hosting)
#   $(pkgdatadir)/examples/chatai.conf.example     copy to $(sysconfdir)/chatai.conf
#   $(systemdunitdir)/chatai-{notifier,ai,fcgi}.service, $(sysusersdir)/chatai.conf
#   $(mandir)/man5/chatai.conf.5, $(mandir)/man8/chatai-{ctl,notifier,ai}.8, chatai.fcgi.8
#   $(sysconfdir)/logrotate.d/chatai               the standalone lighttpd's logs, $(CHATAI_LOG_DIR)
# The .in templates are not installed: they stay in the source tree and the tarball.

webdir = $(pkgdatadir)/web
systemdunitdir = $(prefix)/lib/systemd/system
sysusersdir = $(prefix)/lib/sysusers.d

# Values of the rendered files; override on the make command line, e.g.
#   make install CHATAI_SERVER_PORT=8080
# (at build time or at install time: the files are rendered again whenever a value or an
# install path differs from the last rendering, see deploy-vars.stamp below).
CHATAI_SERVER_BIND = 0.0.0.0
CHATAI_SERVER_PORT = 80
CHATAI_NOTIFIER_HOST = 127.0.0.1
CHATAI_NOTIFIER_PORT = 8081
CHATAI_FCGI_POOL = 127.0.0.1:9000
CHATAI_STATE_DIR = $(localstatedir)/lib/chatai
CHATAI_LOG_DIR = $(localstatedir)/log/chatai
# who writes there: lighttpd opens its logs after dropping root for server.username
CHATAI_LOG_USER = www-data

# The placeholders are spelled @x[@] here so that configure does not replace them. Lines
# starting with `#%` document a template's placeholders and are left out of the result.
chatai_render = sed -e '/^\#%/d' \
	-e 's|@prefix[@]|$(prefix)|g' -e 's|@LOG_DIR[@]|$(CHATAI_LOG_DIR)|g' \
	-e 's|@bindir[@]|$(bindir)|g' -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	-e 's|@BIND[@]|$(CHATAI_SERVER_BIND)|g' -e 's|@PORT[@]|$(CHATAI_SERVER_PORT)|g' \
	-e 's|@DOCROOT[@]|$(webdir)|g' -e 's|@STATE_DIR[@]|$(CHATAI_STATE_DIR)|g' \
	-e 's|@CHATAI_CONFIG[@]|$(sysconfdir)/chatai.conf|g' \
	-e 's|@NOTIFIER_HOST[@]|$(CHATAI_NOTIFIER_HOST)|g' -e 's|@NOTIFIER_PORT[@]|$(CHATAI_NOTIFIER_PORT)|g' \
	-e 's|@FCGI_BIN[@]|$(bindir)/chatai.fcgi|g' -e 's|@FCGI_DIR[@]|$(bindir)|g' \
	-e 's|@FCGI_PROCS[@]|32|g' -e 's|@FCGI_EXTERNAL[@]|$(CHATAI_FCGI_POOL)|g' \
	-e 's|@ERRORLOG[@]|$(CHATAI_LOG_DIR)/chatai-error.log|g' \
	-e 's|@ACCESSLOG[@]|$(CHATAI_LOG_DIR)/chatai-access.log|g' \
	-e 's|@PIDFILE[@]|/run/lighttpd-chatai.pid|g' -e 's|@UPLOAD_DIR[@]|/var/tmp|g' \
	-e 's|@FCGI_BACKEND[@]|"socket" => "/run/lighttpd/chatai-fcgi.sock", "bin-path" => "$(bindir)/chatai.fcgi", "bin-environment" => ( "CHATAI_CONFIG" => "$(sysconfdir)/chatai.conf", "CHATAI_FCGI_LONGPOLL_MAX" => "9000" ), "max-procs" => 1, "listen-backlog" => 4096, "check-local" => "disable"|g'

chatai_rendered = \
	lighttpd-conf/chatai.conf apache-conf/chatai-site.conf apache-conf/chatai-vhost.conf.example \
	systemd/chatai-notifier.service systemd/chatai-ai.service systemd/chatai-fcgi.service \
	man/chatai-ctl.8 man/chatai-notifier.8 man/chatai-ai.8 man/chatai.conf.5 man/chatai.fcgi.8 \
	logrotate/chatai

# Every value the rendering uses, as this make run sees them (command line included). The
# stamp is rewritten only when one differs from the last run, and every rendered file
# depends on it: so `make install CHATAI_NOTIFIER_PORT=9081` after a plain `make` renders
# again and installs 9081 instead of silently keeping 8081.
chatai_render_values = $(prefix)|$(bindir)|$(sbindir)|$(sysconfdir)|$(pkgdatadir)|$(webdir)| \
	$(CHATAI_SERVER_BIND)|$(CHATAI_SERVER_PORT)|$(CHATAI_NOTIFIER_HOST)|$(CHATAI_NOTIFIER_PORT)| \
	$(CHATAI_FCGI_POOL)|$(CHATAI_STATE_DIR)|$(CHATAI_LOG_DIR)
deploy-vars.stamp: chatai-render-force
	@echo '$(chatai_render_values)' >$@-t; \
	if cmp -s $@-t $@; then rm -f $@-t; else mv $@-t $@; fi
chatai-render-force:
.PHONY: chatai-render-force

# One rule renders every file from its template beside it in the source tree ($(srcdir)/X.in
# makes X); the lines below it only name each file's template, so that editing one renders
# that file again.
$(chatai_rendered): $(srcdir)/deploy.mk deploy-vars.stamp
	$(AM_V_GEN)$(MKDIR_P) $$(dirname $@) && $(chatai_render) $(srcdir)/$@.in >$@-t && mv $@-t $@
lighttpd-conf/chatai.conf: $(srcdir)/lighttpd-conf/chatai.conf.in
apache-conf/chatai-site.conf: $(srcdir)/apache-conf/chatai-site.conf.in
apache-conf/chatai-vhost.conf.example: $(srcdir)/apache-conf/chatai-vhost.conf.example.in
systemd/chatai-notifier.service: $(srcdir)/systemd/chatai-notifier.service.in
systemd/chatai-ai.service: $(srcdir)/systemd/chatai-ai.service.in
systemd/chatai-fcgi.service: $(srcdir)/systemd/chatai-fcgi.service.in
man/chatai-ctl.8: $(srcdir)/man/chatai-ctl.8.in
man/chatai-notifier.8: $(srcdir)/man/chatai-notifier.8.in
man/chatai-ai.8: $(srcdir)/man/chatai-ai.8.in
man/chatai.conf.5: $(srcdir)/man/chatai.conf.5.in
man/chatai.fcgi.8: $(srcdir)/man/chatai.fcgi.8.in
logrotate/chatai: $(srcdir)/logrotate/chatai.in

lighttpddir = $(pkgdatadir)/lighttpd
nodist_lighttpd_DATA = lighttpd-conf/chatai.conf
apachedir = $(pkgdatadir)/apache
nodist_apache_DATA = apache-conf/chatai-site.conf apache-conf/chatai-vhost.conf.example
dist_apache_DATA = apache-conf/htaccess apache-conf/balancer.conf.example
examplesdir = $(pkgdatadir)/examples
dist_examples_DATA = chatai.conf.example
nodist_systemdunit_DATA = systemd/chatai-notifier.service systemd/chatai-ai.service \
	systemd/chatai-fcgi.service
nodist_sysusers_DATA = systemd/chatai.conf
systemd/chatai.conf: $(srcdir)/systemd/chatai.sysusers
	$(AM_V_GEN)$(MKDIR_P) systemd && cp $(srcdir)/systemd/chatai.sysusers $@
nodist_man_MANS = man/chatai-ctl.8 man/chatai-notifier.8 man/chatai-ai.8 man/chatai.conf.5 \
	man/chatai.fcgi.8
logrotatedir = $(sysconfdir)/logrotate.d
nodist_logrotate_DATA = logrotate/chatai

CLEANFILES += $(chatai_rendered) systemd/chatai.conf deploy-vars.stamp
EXTRA_DIST += systemd/chatai-notifier.service.in systemd/chatai-ai.service.in \
	systemd/chatai-fcgi.service.in systemd/chatai.sysusers \
	man/chatai-ctl.8.in man/chatai-notifier.8.in man/chatai-ai.8.in man/chatai.conf.5.in \
	man/chatai.fcgi.8.in logrotate/chatai.in \
	apache-conf/chatai-vhost.conf.example.in apache-conf/chatai-site.conf.in apache-conf/chatai.conf.in \
	lighttpd-conf/chatai.conf.in .clang-format .editorconfig
# The licence and the release notes, also installed: $(docdir)/LICENSE, NEWS.
dist_doc_DATA = LICENSE NEWS

# Rendered at build time, so that mistakes show before `make install`.
all-local: $(chatai_rendered) systemd/chatai.conf

# web/ is installed as it is (plain HTML, CSS and JavaScript modules): every file of
# admin/, widget/, shared/ and demo/ except build and package files.
chatai_web_find = (cd $(srcdir)/web && find admin widget shared demo -type f \
	! -name '*.mk' ! -name '.*' ! -name 'package.json' ! -name '*~' 2>/dev/null) | LC_ALL=C sort

# The demo shop (demo/, with its CSS torture page) is no part of a production site: it goes
# to $(examplesdir)/demo, outside the document root (scripts/demo serves it from web/).
# The standalone lighttpd's log directory is made here, so that its configuration works
# with any --localstatedir.
chatai_web_dest = case "$$f" in demo/*) b="$(DESTDIR)$(examplesdir)";; *) b="$(DESTDIR)$(webdir)";; esac

install-data-local:
	@$(chatai_web_find) | while read -r f; do \
	  $(chatai_web_dest); d=$$(dirname "$$f"); \
	  $(MKDIR_P) "$$b/$$d" || exit 1; \
	  echo " $(INSTALL_DATA) web/$$f '$$b/$$d'"; \
	  $(INSTALL_DATA) "$(srcdir)/web/$$f" "$$b/$$d/" || exit 1; \
	done
	$(MKDIR_P) "$(DESTDIR)$(CHATAI_LOG_DIR)"
	@if test -z "$(DESTDIR)" && test "$$(id -u)" = 0 && id "$(CHATAI_LOG_USER)" >/dev/null 2>&1; then \
	  echo " chown $(CHATAI_LOG_USER) '$(CHATAI_LOG_DIR)'"; chown "$(CHATAI_LOG_USER)" "$(CHATAI_LOG_DIR)"; \
	fi

uninstall-local:
	@$(chatai_web_find) | while read -r f; do $(chatai_web_dest); rm -f "$$b/$$f"; done
	-@for d in "$(DESTDIR)$(webdir)/shared" "$(DESTDIR)$(webdir)/widget" "$(DESTDIR)$(webdir)/admin" \
	  "$(DESTDIR)$(examplesdir)/demo"; do \
	  test -d "$$d" && find "$$d" -depth -type d -empty -delete; \
	done; rmdir "$(DESTDIR)$(webdir)" 2>/dev/null || true
	-rmdir "$(DESTDIR)$(CHATAI_LOG_DIR)" 2>/dev/null

# The tarball carries the tests but not what running them leaves behind, and every file
# that `make install` would take from web/ and sql/ (a file missing from some EXTRA_DIST
# fails here instead of in a user's build).
dist-hook:
	@missing=$$($(chatai_web_find) | while read -r f; do test -f "$(distdir)/web/$$f" || echo "web/$$f"; done; \
	  for f in $(srcdir)/sql/[0-9]*_*.sql; do test -f "$(distdir)/sql/$$(basename $$f)" || echo "sql/$$(basename $$f)"; done); \
	if test -n "$$missing"; then echo "files missing from the tarball (add them to EXTRA_DIST or dist_sql_DATA):" $$missing >&2; exit 1; fi
	-find $(distdir)/tests -name __pycache__ -type d -prune -exec rm -rf {} +
	-rm -rf $(distdir)/tests/artifacts
