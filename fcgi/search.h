/* SPDX-License-Identifier: MIT */
/*
 * search: GET /api/search?q=&limit= (docs/api.md): full-text search over message text
 * (chatai_search() of sql/006_admin.sql), newest first.
 */
#ifndef CHATAI_FCGI_SEARCH_H
#define CHATAI_FCGI_SEARCH_H

struct req;

int h_search(struct req *r);

#endif
