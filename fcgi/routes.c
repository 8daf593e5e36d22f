/* SPDX-License-Identifier: MIT */
/*
 * routes: the route table of docs/api.md, and nothing else. One line per route:
 * method, pattern, handler (int h_x(struct req *r), declared in its resource's header),
 * route flags (router.h: who may call, body, rate class). The pipeline (pipeline.c)
 * does everything the flags say before it calls the handler.
 */
#include "autoconfig.h"
#include "routes.h"
#include "assistants.h"
#include "contact.h"
#include "dialogs.h"
#include "inbox.h"
#include "knowledge.h"
#include "messages.h"
#include "notes.h"
#include "operators.h"
#include "search.h"
#include "session.h"
#include "streamtickets.h"
#include "widget.h"

#define OP ROUTE_OPERATOR
#define ADM (ROUTE_OPERATOR | ROUTE_ADMIN)
#define W ROUTE_WIDGET
#define B ROUTE_BODY

const struct route chatai_routes[] = {
	{ "POST", "/api/auth/login", h_login, B | ROUTE_RATE_LOGIN },
	{ "POST", "/api/auth/logout", h_logout, OP },
	{ "GET", "/api/me", h_me, OP },
	{ "PATCH", "/api/me", h_me_patch, OP | B },
	{ "GET", "/api/operators", h_operators_list, ADM },
	{ "GET", "/api/team", h_team, OP },
	{ "POST", "/api/operators", h_operators_create, ADM | B },
	{ "PATCH", "/api/operators/{id}", h_operator_patch, ADM | B },
	{ "GET", "/api/assistants", h_assistants_list, OP },
	{ "POST", "/api/assistants", h_assistants_create, ADM | B },
	{ "GET", "/api/assistants/{id}", h_assistant_get, OP },
	{ "PATCH", "/api/assistants/{id}", h_assistant_update, ADM | B },
	{ "GET", "/api/assistants/{id}/knowledge", h_knowledge_query, OP },
	{ "POST", "/api/assistants/{id}/answer-preview", h_answer_preview, OP | B },
	{ "POST", "/api/assistants/{id}/knowledge", h_knowledge_create, ADM | B },
	{ "PATCH", "/api/knowledge/{id}", h_knowledge_patch, ADM | B },
	{ "DELETE", "/api/knowledge/{id}", h_knowledge_delete, ADM },
	{ "GET", "/api/dialogs", h_dialogs_list, OP },
	{ "GET", "/api/dialogs/{id}", h_dialog_get, OP },
	{ "GET", "/api/dialogs/{id}/messages", h_messages_get, OP },
	{ "POST", "/api/dialogs/{id}/messages", h_messages_post, OP | B },
	{ "POST", "/api/dialogs/{id}/takeover", h_dialog_takeover, OP },
	{ "POST", "/api/dialogs/{id}/release", h_dialog_release, OP },
	{ "POST", "/api/dialogs/{id}/close", h_dialog_close, OP },
	{ "POST", "/api/dialogs/{id}/typing", h_dialog_typing, OP | B },
	{ "POST", "/api/dialogs/{id}/read", h_dialog_read, OP | B },
	{ "POST", "/api/dialogs/{id}/notes", h_dialog_note, OP | B },
	{ "POST", "/api/dialogs/{id}/assign", h_dialog_assign, OP | B },
	{ "GET", "/api/dialogs/{id}/suggestions", h_dialog_suggestions, OP },
	{ "GET", "/api/search", h_search, OP },
	{ "GET", "/api/inbox", h_inbox, OP },
	{ "POST", "/api/stream-tickets", h_stream_ticket, OP },
	{ "GET", "/api/dialogs/{id}/mail", h_dialog_mail, OP },
	{ "GET", "/api/widget/assistants/{id}", h_widget_assistant, W },
	{ "POST", "/api/widget/dialogs", h_widget_dialog_create, W | B | ROUTE_RATE_DIALOGS },
	{ "GET", "/api/widget/dialogs/{id}/messages", h_widget_messages_get, W },
	{ "POST", "/api/widget/dialogs/{id}/messages", h_widget_messages_post, W | B | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/typing", h_widget_typing, W | B | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/handoff", h_widget_handoff, W | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/stream-tickets", h_widget_stream_ticket, W | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/contact", h_widget_contact, W | B | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/read", h_widget_read, W | B | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/transcript", h_widget_transcript, W | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/resume", h_widget_resume, W | B | ROUTE_RATE_DIALOGS },
};
const size_t chatai_routes_count = sizeof chatai_routes / sizeof *chatai_routes;
