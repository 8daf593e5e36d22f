/* SPDX-License-Identifier: MIT */
/* routes: the application's route table (routes.c), read by the pipeline and the tests. */
#ifndef CHATAI_FCGI_ROUTES_H
#define CHATAI_FCGI_ROUTES_H

#include <stddef.h>
#include "router.h"

extern const struct route chatai_routes[];
extern const size_t chatai_routes_count;

#endif
