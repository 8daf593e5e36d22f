/* SPDX-License-Identifier: MIT */
/* assistants: assistants and their knowledge (admin writes), route handlers of routes.c. */
#ifndef CHATAI_FCGI_ASSISTANTS_H
#define CHATAI_FCGI_ASSISTANTS_H

struct req;

int h_assistants_list(struct req *r);
int h_assistants_create(struct req *r);
int h_assistant_get(struct req *r);
int h_knowledge_list(struct req *r);
int h_knowledge_create(struct req *r);
int h_knowledge_delete(struct req *r);

#endif
