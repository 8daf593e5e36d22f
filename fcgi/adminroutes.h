/* SPDX-License-Identifier: MIT */
/* adminroutes: the handlers of the admin routes (issue 14), for the route table. */
#ifndef CHATAI_FCGI_ADMINROUTES_H
#define CHATAI_FCGI_ADMINROUTES_H

#include "knowledge.h"
#include "notes.h"
#include "operators.h"
#include "search.h"

#endif
