/* SPDX-License-Identifier: MIT */
/*
 * knowledge: the admin side of assistants and their knowledge (docs/api.md): PATCH of an
 * assistant and of an entry (through chatai_assistant_update() / chatai_knowledge_update()
 * of sql/006_admin.sql, as chatai-ctl writes), the list searched with ?q=, the answer
 * preview and a dialog's suggestions. Ranking and answers are the assistant's own code
 * (ai/kb.c kb_search, ai/answer.c answer_preview), never a copy of it.
 */
#ifndef CHATAI_FCGI_KNOWLEDGE_H
#define CHATAI_FCGI_KNOWLEDGE_H

struct req;

int h_assistant_update(struct req *r);
int h_knowledge_patch(struct req *r);
/* GET /api/assistants/{id}/knowledge: every entry, or with ?q= the entries ranked. */
int h_knowledge_query(struct req *r);
int h_answer_preview(struct req *r);
int h_dialog_suggestions(struct req *r);

#endif
