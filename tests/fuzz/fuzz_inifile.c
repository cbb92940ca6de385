/*
 * The INI reader every configuration parser goes through (common/inifile.c over inih),
 * on its buffer API. The handler fails every key whose name starts with '!', so the error
 * paths run too. Checks the contract of inifile.h: the line numbers the handler and the
 * hook see, the text the hook gets, and how status, result and refused_line agree.
 */

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "inifile.h"

struct ctx {
	struct inifile ini;
	int lines;       /* physical lines in the input */
	int last_line;   /* line of the previous handler or hook call */
	int failed_line; /* first line whose handler returned 0, 0 when none */
};

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *c = user;

	FUZZ_CHECK(section && name && value);
	FUZZ_CHECK(c->ini.line >= 1 && c->ini.line <= c->lines);
	FUZZ_CHECK(c->ini.line >= c->last_line);
	c->last_line = c->ini.line;
	if (name[0] != '!')
		return 1;
	if (!c->failed_line)
		c->failed_line = c->ini.line;
	return 0;
}

static void on_line(void *user, const char *text, size_t len)
{
	struct ctx *c = user;
	size_t n = strlen(text);

	FUZZ_CHECK(c->ini.line >= 1 && c->ini.line <= c->lines);
	FUZZ_CHECK(c->ini.line > c->last_line || c->ini.line == 1);
	c->last_line = c->ini.line;
	/* the line as inih gets it: no NUL inside, the newline (if any) not counted */
	FUZZ_CHECK(n == len || (n == len + 1 && text[len] == '\n'));
	FUZZ_CHECK(c->ini.line_max > 0 && len <= (size_t)c->ini.line_max + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = {0};
	enum inifile_status st;
	char msg[128];
	int line = -1;

	c.lines = fuzz_count_lines(data, size);

	st = inifile_parse(&c.ini, (const char *)data, size, on_pair, on_line, &c);

	FUZZ_CHECK(c.ini.result >= 0); /* only allocation failures are negative */
	FUZZ_CHECK(c.ini.result <= c.lines);
	if (c.failed_line)
		FUZZ_CHECK(c.ini.result > 0 && c.ini.result <= c.failed_line);
	switch (st) {
	case INIFILE_OK:
		FUZZ_CHECK(c.ini.result == 0 && c.ini.refused == INIFILE_OK);
		FUZZ_CHECK(!inifile_reader_error(&c.ini, &line, msg, sizeof(msg)));
		break;
	case INIFILE_ERR_PARSE:
		FUZZ_CHECK(c.ini.result > 0);
		break;
	case INIFILE_ERR_NUL:
	case INIFILE_ERR_LONG_LINE:
		FUZZ_CHECK(c.ini.result == 0 && c.ini.refused == st);
		break;
	default:
		FUZZ_CHECK(!"unexpected status");
	}
	if (c.ini.refused) {
		FUZZ_CHECK(c.ini.refused_line >= 1 && c.ini.refused_line <= c.lines);
		/* inih saw no line from the refused one on */
		FUZZ_CHECK(c.ini.result < c.ini.refused_line);
		FUZZ_CHECK(c.last_line < c.ini.refused_line);
		FUZZ_CHECK(inifile_reader_error(&c.ini, &line, msg, sizeof(msg)));
		FUZZ_CHECK(line == c.ini.refused_line && msg[0] != '\0');
	} else {
		FUZZ_CHECK(c.ini.refused_line == 0);
	}
	return 0;
}
