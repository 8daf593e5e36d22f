# SPDX-License-Identifier: MIT
# web/: rules of this part of the tree (included by Makefile.am).
# Static files served as they are (no build step); deploy.mk installs web/ recursively.
EXTRA_DIST += \
	web/admin/index.html web/admin/admin.css web/admin/app.js web/admin/mail.js web/admin/favicon.svg \
	web/admin/core.js web/admin/logic.js web/admin/inbox.js web/admin/dialog.js web/admin/composer.js \
	web/admin/assistants.js web/admin/knowledge.js web/admin/people.js web/admin/search.js \
	web/widget/chatai.js web/widget/widget.js web/widget/styles.js web/widget/mailbox.js \
	web/shared/transport.js web/shared/logic.js web/shared/api.js web/shared/dom.js web/shared/messages.js \
	web/shared/package.json \
	web/demo/index.html web/demo/hostile.html web/demo/demo.css web/demo/hostile.css \
	web/demo/config.js web/demo/favicon.svg web/README.md
