# deploy.mk: what `make install` lays out besides the programs and sql/ (which their own
# local.mk install): the web/ tree, server configurations rendered with the install paths,
# systemd units, man pages, the example settings file.
#
#   $(pkgdatadir)/web/{admin,widget,shared,demo}/   static files (the document root)
#   $(pkgdatadir)/lighttpd/chatai.conf             lighttpd server configuration
#   $(pkgdatadir)/apache/chatai-site.conf          Apache directives for a <VirtualHost>
#   $(pkgdatadir)/apache/chatai-vhost.conf.example, htaccess (shared hosting)
#   $(pkgdatadir)/examples/chatai.conf.example     copy to $(sysconfdir)/chatai.conf
#   $(systemdunitdir)/chatai-{notifier,ai,fcgi}.service, $(sysusersdir)/chatai.conf
#   $(mandir)/man5/chatai.conf.5, $(mandir)/man8/chatai-{ctl,notifier,ai}.8

webdir = $(pkgdatadir)/web
systemdunitdir = $(prefix)/lib/systemd/system
sysusersdir = $(prefix)/lib/sysusers.d

# Values of the rendered files; override on the make command line, e.g.
#   make install CHATAI_SERVER_PORT=8080
CHATAI_SERVER_BIND = 0.0.0.0
CHATAI_SERVER_PORT = 80
CHATAI_NOTIFIER_HOST = 127.0.0.1
CHATAI_NOTIFIER_PORT = 8081
CHATAI_FCGI_POOL = 127.0.0.1:9000
CHATAI_STATE_DIR = $(localstatedir)/lib/chatai
CHATAI_LOG_DIR = $(localstatedir)/log/lighttpd

# The placeholders are spelled @x[@] here so that configure does not replace them.
chatai_render = sed \
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
	-e 's|@PIDFILE[@]|/run/lighttpd-chatai.pid|g' \
	-e 's|@FCGI_BACKEND[@]|"socket" => "/run/lighttpd/chatai-fcgi.sock", "bin-path" => "$(bindir)/chatai.fcgi", "bin-environment" => ( "CHATAI_CONFIG" => "$(sysconfdir)/chatai.conf", "CHATAI_FCGI_LONGPOLL_MAX" => "2500" ), "max-procs" => 4, "listen-backlog" => 4096, "check-local" => "disable"|g'

chatai_rendered = \
	lighttpd-conf/chatai.conf apache-conf/chatai-site.conf apache-conf/chatai-vhost.conf.example \
	systemd/chatai-notifier.service systemd/chatai-ai.service systemd/chatai-fcgi.service \
	man/chatai-ctl.8 man/chatai-notifier.8 man/chatai-ai.8 man/chatai.conf.5

lighttpd-conf/chatai.conf: $(srcdir)/lighttpd-conf/chatai.conf.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) lighttpd-conf && $(chatai_render) $(srcdir)/lighttpd-conf/chatai.conf.in >$@-t && mv $@-t $@
apache-conf/chatai-site.conf: $(srcdir)/apache-conf/chatai-site.conf.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) apache-conf && $(chatai_render) $(srcdir)/apache-conf/chatai-site.conf.in >$@-t && mv $@-t $@
systemd/chatai-notifier.service: $(srcdir)/systemd/chatai-notifier.service.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) systemd && $(chatai_render) $(srcdir)/systemd/chatai-notifier.service.in >$@-t && mv $@-t $@
systemd/chatai-ai.service: $(srcdir)/systemd/chatai-ai.service.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) systemd && $(chatai_render) $(srcdir)/systemd/chatai-ai.service.in >$@-t && mv $@-t $@
systemd/chatai-fcgi.service: $(srcdir)/systemd/chatai-fcgi.service.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) systemd && $(chatai_render) $(srcdir)/systemd/chatai-fcgi.service.in >$@-t && mv $@-t $@
apache-conf/chatai-vhost.conf.example: $(srcdir)/apache-conf/chatai-vhost.conf.example.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) apache-conf && $(chatai_render) $(srcdir)/apache-conf/chatai-vhost.conf.example.in >$@-t && mv $@-t $@
man/chatai-ctl.8: $(srcdir)/man/chatai-ctl.8.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) man && $(chatai_render) $(srcdir)/man/chatai-ctl.8.in >$@-t && mv $@-t $@
man/chatai-notifier.8: $(srcdir)/man/chatai-notifier.8.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) man && $(chatai_render) $(srcdir)/man/chatai-notifier.8.in >$@-t && mv $@-t $@
man/chatai-ai.8: $(srcdir)/man/chatai-ai.8.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) man && $(chatai_render) $(srcdir)/man/chatai-ai.8.in >$@-t && mv $@-t $@
man/chatai.conf.5: $(srcdir)/man/chatai.conf.5.in $(srcdir)/deploy.mk
	$(AM_V_GEN)$(MKDIR_P) man && $(chatai_render) $(srcdir)/man/chatai.conf.5.in >$@-t && mv $@-t $@

lighttpddir = $(pkgdatadir)/lighttpd
nodist_lighttpd_DATA = lighttpd-conf/chatai.conf
dist_lighttpd_DATA = lighttpd-conf/chatai.conf.in
apachedir = $(pkgdatadir)/apache
nodist_apache_DATA = apache-conf/chatai-site.conf apache-conf/chatai-vhost.conf.example
dist_apache_DATA = apache-conf/chatai-site.conf.in apache-conf/chatai.conf.in apache-conf/htaccess \
	apache-conf/balancer.conf
examplesdir = $(pkgdatadir)/examples
dist_examples_DATA = chatai.conf.example
nodist_systemdunit_DATA = systemd/chatai-notifier.service systemd/chatai-ai.service \
	systemd/chatai-fcgi.service
nodist_sysusers_DATA = systemd/chatai.conf
systemd/chatai.conf: $(srcdir)/systemd/chatai.sysusers
	$(AM_V_GEN)$(MKDIR_P) systemd && cp $(srcdir)/systemd/chatai.sysusers $@
nodist_man_MANS = man/chatai-ctl.8 man/chatai-notifier.8 man/chatai-ai.8 man/chatai.conf.5

CLEANFILES += $(chatai_rendered) systemd/chatai.conf
EXTRA_DIST += systemd/chatai-notifier.service.in systemd/chatai-ai.service.in \
	systemd/chatai-fcgi.service.in systemd/chatai.sysusers \
	man/chatai-ctl.8.in man/chatai-notifier.8.in man/chatai-ai.8.in man/chatai.conf.5.in \
	apache-conf/chatai-vhost.conf.example.in .clang-format .editorconfig

# Rendered at build time, so that mistakes show before `make install`.
all-local: $(chatai_rendered) systemd/chatai.conf

# web/ is installed as it is (plain HTML, CSS and JavaScript modules): every file of
# admin/, widget/, shared/ and demo/ except build and package files.
chatai_web_find = (cd $(srcdir)/web && find admin widget shared demo -type f \
	! -name '*.mk' ! -name '.*' ! -name 'package.json' ! -name '*~' 2>/dev/null) | LC_ALL=C sort

install-data-local:
	@$(chatai_web_find) | while read -r f; do \
	  d=$$(dirname "$$f"); \
	  $(MKDIR_P) "$(DESTDIR)$(webdir)/$$d" || exit 1; \
	  echo " $(INSTALL_DATA) web/$$f '$(DESTDIR)$(webdir)/$$d'"; \
	  $(INSTALL_DATA) "$(srcdir)/web/$$f" "$(DESTDIR)$(webdir)/$$d/" || exit 1; \
	done

uninstall-local:
	@$(chatai_web_find) | while read -r f; do rm -f "$(DESTDIR)$(webdir)/$$f"; done
	-@for d in demo shared widget admin; do \
	  test -d "$(DESTDIR)$(webdir)/$$d" && find "$(DESTDIR)$(webdir)/$$d" -depth -type d -empty -delete; \
	done; rmdir "$(DESTDIR)$(webdir)" 2>/dev/null || true

# The tarball carries the tests but not what running them leaves behind, and every file
# that `make install` would take from web/ and sql/ (a file missing from some EXTRA_DIST
# fails here instead of in a user's build).
dist-hook:
	@missing=$$($(chatai_web_find) | while read -r f; do test -f "$(distdir)/web/$$f" || echo "web/$$f"; done; \
	  for f in $(srcdir)/sql/[0-9]*_*.sql; do test -f "$(distdir)/sql/$$(basename $$f)" || echo "sql/$$(basename $$f)"; done); \
	if test -n "$$missing"; then echo "files missing from the tarball (add them to EXTRA_DIST or dist_sql_DATA):" $$missing >&2; exit 1; fi
	-find $(distdir)/tests -name __pycache__ -type d -prune -exec rm -rf {} +
	-rm -rf $(distdir)/tests/artifacts
