/* SPDX-License-Identifier: MIT */
/* Unit tests of common/mailaddr.c and ai/mailsend.c's formatting: addresses, names and
 * subjects can never start a header of their own (issue 15). */
#include "autoconfig.h"
#include "check_run.h"
#include "mailaddr.h"
#include "mailq.h"
#include "mailsend.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_addresses)
{
	CHECK_EACH(s, mail_addr_valid(s), 1, "a@example.com", "first.last+tag@sub.example.co.uk");
	CHECK_EACH(s, mail_addr_valid(s), 0, "a@localhost" /* no dot */, "a@b", "@example.com", "a@",
		   "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com", "a@example..com",
		   "a b@example.com", "a@example.com\r\nBcc: x@y.z", "a@example.com\n", "a@exam ple.com",
		   "\"a\"@example.com", "a,b@example.com", "<a@example.com>", "a@[127.0.0.1]",
		   "j\xc3\xb6rg@example.com" /* ASCII only */);
	ck_assert_int_eq(mail_addr_valid(NULL), 0);
	char big[400];
	memset(big, 'a', sizeof big);
	strcpy(big + 300, "@example.com");
	ck_assert_int_eq(mail_addr_valid(big), 0);
}
END_TEST

START_TEST(test_names)
{
	CHECK_EACH(s, mail_text_clean(s), 1, "Zo\xc3\xab \xe2\x98\x83");
	CHECK_EACH(s, mail_text_clean(s), 0, "Eve\r\nBcc: x@y.z", "tab\there", "del\x7f", "c1 \xc2\x85 nel",
		   "ls \xe2\x80\xa8", "bad \xff utf8", "");
	ck_assert_int_eq(mail_has_ctl("a\rb"), 1);
	ck_assert_int_eq(mail_has_ctl("plain"), 0);
}
END_TEST

/* The headers of a formatted mail: no line that is not ours. */
START_TEST(test_format_encodes_everything)
{
	const char *to[] = { "v@example.org" };
	struct mail_msg m = { "chat@example.com",
			      "Shop\r\nBcc: evil@example.com",
			      to,
			      1,
			      "Subject\r\nBcc: evil@example.com "
			      "and a long tail to force several encoded words here",
			      "body\n.\nBcc: x\n",
			      "<p>x</p>",
			      "<chatai-mail-1.2@example.com>" };
	size_t n = 0;
	char *s = mail_format(&m, &n);
	ck_assert_uint_eq(strlen(s), n);
	char *end = strstr(s, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	ck_assert_ptr_null(strstr(s, "Bcc"));
	ck_assert_ptr_null(strstr(s, "evil"));
	/* every header line is a known header or a folded continuation */
	for (char *line = s, *next; line; line = next) {
		next = strstr(line, "\r\n");
		if (next) {
			*next = '\0';
			next += 2;
		}
		int ok = line[0] == ' ' || !strncmp(line, "Date: ", 6) || !strncmp(line, "From: ", 6) ||
			 !strncmp(line, "To: ", 4) || !strncmp(line, "Subject: ", 9) ||
			 !strncmp(line, "Message-ID: ", 12) || !strncmp(line, "MIME-Version: ", 14) ||
			 !strncmp(line, "Auto-Submitted: ", 16) || !strncmp(line, "Content-Type: ", 14);
		ck_assert_msg(ok, "unexpected header line: %s", line);
		ck_assert_uint_le(strlen(line), 78);
	}
	free(s);
}
END_TEST

START_TEST(test_words_split_on_characters)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	/* 30 two-byte characters: 60 bytes, more than one word holds */
	char name[61];
	for (int i = 0; i < 30; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[60] = '\0';
	mail_put_words(f, name);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "?=\r\n =?UTF-8?B?"));
	ck_assert_str_eq(out + strlen(out) - 2, "?=");
	free(out);
}
END_TEST

START_TEST(test_backoff)
{
	ck_assert_int_eq(mailq_backoff(1), 60);
	ck_assert_int_eq(mailq_backoff(2), 120);
	ck_assert_int_eq(mailq_backoff(3), 240);
	ck_assert_int_eq(mailq_backoff(50), 3600);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mail");
	check_case(s, "core", CHECK_TESTS(test_addresses, test_names, test_format_encodes_everything,
					  test_words_split_on_characters, test_backoff));
	return check_run(s, CK_FORK_GETENV);
}
