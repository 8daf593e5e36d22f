/* SPDX-License-Identifier: MIT */
/*
 * handoff: does a visitor's message ask for a human? Pure functions, no I/O.
 *
 * The assistant's handoff_words (e.g. {human, operator, "real person"}) are matched as
 * whole words, case-insensitively (Unicode lower case through the C.UTF-8 locale, so
 * "ОПЕРАТОР" matches "оператор"); an entry of several words matches those words in a
 * row. Words are runs of letters and digits; everything else separates them. Invalid
 * UTF-8 bytes separate words too and never match.
 */
#ifndef CHATAI_AI_HANDOFF_H
#define CHATAI_AI_HANDOFF_H

#include <stddef.h>

/* The handoff_requested text the worker stores, and the dialog_released notice of the
 * waiting timeout. */
#define HANDOFF_TEXT "The visitor asked for a human. An operator will join the conversation shortly."
#define HANDOFF_TEXT_FAILURES "The assistant could not help, so an operator has been asked to join the conversation."
#define HANDOFF_RELEASED_TEXT "No operator could join in time, so the assistant is back. Ask me anything, or ask for a human again later."

/*
 * 1 when text contains one of words[0..n) as whole words, else 0. *which (may be NULL)
 * gets the index of the first entry that matched.
 */
int handoff_match(const char *text, const char *const *words, size_t n, size_t *which);

/*
 * Split s into lower-cased words: *out gets an array of n fresh strings (caller frees
 * each and the array with handoff_words_free). Returns n.
 */
size_t handoff_words_split(const char *s, char ***out);
void handoff_words_free(char **w, size_t n);

#endif
