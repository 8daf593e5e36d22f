/* SPDX-License-Identifier: MIT */
/*
 * dlist: the intrusive doubly linked lists of the tree (waiting long-polls, notifier
 * clients, hub subscribers). A node has `prev` and `next` pointers of its own type; a list
 * is a head pointer, NULL when empty. Macros, so that one definition serves every node
 * type (as BSD's <sys/queue.h> does); O(1), no allocation, no call.
 */
#ifndef CHATAI_DLIST_H
#define CHATAI_DLIST_H

/* Put n first in the list head. */
#define DLIST_PUSH(head, n)                 \
	do {                                \
		(n)->prev = NULL;           \
		(n)->next = (head);         \
		if (head)                   \
			(head)->prev = (n); \
		(head) = (n);               \
	} while (0)

/* Take n out of the list head; n's links are left NULL. */
#define DLIST_UNLINK(head, n)                        \
	do {                                         \
		if ((n)->prev)                       \
			(n)->prev->next = (n)->next; \
		else                                 \
			(head) = (n)->next;          \
		if ((n)->next)                       \
			(n)->next->prev = (n)->prev; \
		(n)->prev = (n)->next = NULL;        \
	} while (0)

#endif
