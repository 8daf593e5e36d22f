/* SPDX-License-Identifier: MIT */
/*
 * pipeline: one request through what its route's flags ask, then its handler:
 * route (404/405, widget OPTIONS preflight), body size (413), operator (401/403),
 * content type and JSON body (415/400), rate limit (429; widget routes count in their
 * handler once the resource is checked), handler. The top of fcgi/'s request layers:
 * main.c calls it, nothing below calls it.
 */
#ifndef CHATAI_FCGI_PIPELINE_H
#define CHATAI_FCGI_PIPELINE_H

struct req;

/* Returns ROUTE_DONE (r->resp is set) or ROUTE_PARKED (the long-poll hub owns r's
 * transport now). */
int pipeline_handle(struct req *r);

#endif
