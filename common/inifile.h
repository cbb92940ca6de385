#ifndef KMA_INIFILE_H
#define KMA_INIFILE_H

/*
 * INI parsing with line numbers, for every parser of an INI file (board.conf, agent.conf,
 * the peer file). inih does the parsing; Debian builds it without INI_HANDLER_LINENO, so
 * the handler gets no line number. This module feeds inih exactly one physical line per
 * call and counts them: while the handler (or the line hook) runs, inifile.line is the
 * line inih is working on.
 *
 * The reader refuses, and stops parsing at, a line inih would misread: one that holds a
 * NUL byte (inih would silently drop the rest of it) or one longer than inih's line
 * buffer (inih would split it and parse the tail as a line of its own). Lines before the
 * refused one have then been parsed and handled; none after it.
 */

#include <stdbool.h>
#include <stddef.h>

#include <ini.h>

enum inifile_status {
	INIFILE_OK = 0,        /* every line read; inih found no error, no handler returned 0 */
	INIFILE_ERR_READ,      /* the file could not be read: see read_errno */
	INIFILE_ERR_PARSE,     /* inih's error on line result: bad syntax or a handler's 0 */
	INIFILE_ERR_NUL,       /* refused line refused_line: it holds a NUL byte */
	INIFILE_ERR_LONG_LINE, /* refused line refused_line: longer than line_max characters */
	INIFILE_ERR_NOMEM,     /* inih could not allocate (result < 0) */
};

/*
 * Called for each line the reader accepts, before inih parses it. text is the line as
 * inih gets it, NUL-terminated; len counts its bytes without the newline. line in the
 * struct inifile is already this line's number. user is the handler's user pointer.
 */
typedef void (*inifile_line_fn)(void *user, const char *text, size_t len);

/*
 * One parse. Callers may read every field; only the parse functions write them. Embed it
 * in (or point to it from) the handler's user data to read line from the handler.
 */
struct inifile {
	int line;                    /* physical line being parsed, from 1; 0 before the first */
	int result;                  /* ini_parse_stream's: 0, first failed line, or < 0 */
	enum inifile_status refused; /* INIFILE_ERR_NUL, INIFILE_ERR_LONG_LINE or INIFILE_OK */
	int refused_line;            /* the refused line, 0 when none was */
	int line_max;                /* longest line accepted (from inih's buffer size), in
	                                characters without the newline; 0 before the first */
	int read_errno;              /* fileio_read's error for INIFILE_ERR_READ (EFBIG: too big) */
	size_t file_max;             /* inifile_parse_file's max, 0 for inifile_parse */
	bool failed;                 /* a handler reported an error with inifile_fail */
	int fail_line;               /* its line */
	char fail_msg[256];          /* and what it said */

	/* the reader's position; private */
	const char *buf;
	size_t len;
	size_t pos;
	inifile_line_fn hook;
	void *user;
};

/*
 * Parses len bytes at buf (no terminating NUL needed) with inih, calling handler for each
 * name = value (with user) and, when not NULL, hook for each line first. Fills f and
 * returns the first problem in file order: INIFILE_ERR_PARSE (result is its line) comes
 * before a refused line, since inih never sees the refused line or any after it; then a
 * refusal; then INIFILE_ERR_NOMEM. Both result and refused_line are kept, so a caller that
 * records errors of its own (handler checks) can order them against both.
 */
enum inifile_status inifile_parse(struct inifile *f, const char *buf, size_t len,
                                  ini_handler handler, inifile_line_fn hook, void *user)
    __attribute__((warn_unused_result));

/*
 * inifile_parse over the contents of path, read whole with fileio_read_input (a regular
 * file of at most max bytes; symbolic links are followed). On INIFILE_ERR_READ nothing was parsed
 * and read_errno says why: EFBIG when the file is larger than max.
 */
enum inifile_status inifile_parse_file(struct inifile *f, const char *path, size_t max,
                                       ini_handler handler, inifile_line_fn hook, void *user)
    __attribute__((warn_unused_result));

/*
 * Describes what went wrong below inih, if anything: a file that could not be read
 * (*line = 0; "cannot open: <strerror>", or "cannot read: larger than N KiB" for EFBIG) or
 * a refused line (*line = refused_line; "NUL byte in line" or "line longer than N
 * characters"). Returns true when it wrote msg and *line, false (writing neither) when
 * the reader had no problem; inih's result is the caller's to report.
 */
bool inifile_reader_error(const struct inifile *f, int *line, char *msg, size_t size);

/*
 * For handlers: records an error at the line being parsed, unless one was recorded
 * already (inih goes on after a handler error; the first in file order is the one to
 * tell). Returns 0, what a handler returns for an error.
 */
int inifile_fail(struct inifile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies a non-empty value that fits in size bytes into dst; else an error naming key.
 * Returns what a handler returns: 1, or 0 after inifile_fail. */
int inifile_set_string(struct inifile *f, char *dst, size_t size, const char *key,
                       const char *value);

/* Parses a whole number from lo to hi into *dst; else "KEY: expected a whole number from
 * LO to HI". Returns what a handler returns. */
int inifile_set_uint(struct inifile *f, unsigned *dst, unsigned lo, unsigned hi, const char *key,
                     const char *value);

/*
 * Parses a duration from lo to hi seconds into *dst_s: whole seconds, or a whole number with
 * one unit, s, m, h or d ("90", "90s", "5m", "1h", "7d"); else "KEY: expected a duration from
 * LO to HI s (...)". Returns what a handler returns.
 */
int inifile_set_duration(struct inifile *f, unsigned *dst_s, unsigned lo, unsigned hi,
                         const char *key, const char *value);

/*
 * For handlers: "unknown key 'KEY' in [SECTION]", with "; did you mean 'K'?" when one of the
 * n known keys of that section is near (suggest.h). Returns 0, as inifile_fail.
 */
int inifile_unknown_key(struct inifile *f, const char *key, const char *section,
                        const char *const *known, size_t n);

/*
 * After a parse, the first error in file order among the handler's (inifile_fail), the
 * reader's (inifile_reader_error, which can only follow the handler's) and inih's syntax
 * error (told as syntax_msg). Writes *line (0 when not tied to a line) and msg and returns
 * true when there is one.
 */
bool inifile_first_error(const struct inifile *f, int *line, char *msg, size_t size,
                         const char *syntax_msg);

/*
 * inifile_parse_file, then inifile_first_error: 0 when the file parsed without any
 * error, -1 with *line and msg filled otherwise.
 */
int inifile_load(struct inifile *f, const char *path, size_t max, ini_handler handler, void *user,
                 int *line, char *msg, size_t size, const char *syntax_msg)
    __attribute__((warn_unused_result));

#endif
