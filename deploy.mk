# deploy.mk: server configurations, systemd units, man pages.
