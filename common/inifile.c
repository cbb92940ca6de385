#include "inifile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "suggest.h"

/* fgets-like reader over the contents: exactly one physical line per call. */
static char *reader(char *str, int num, void *stream)
{
	struct inifile *f = stream;
	const char *nl;
	size_t len, take;

	if (f->refused || f->pos >= f->len || num < 3)
		return NULL;
	f->line_max = num - 2; /* inih's buffer less the newline and the NUL */
	nl = memchr(f->buf + f->pos, '\n', f->len - f->pos);
	len = nl ? (size_t)(nl - (f->buf + f->pos)) : f->len - f->pos;
	take = nl ? len + 1 : len;
	f->line++;
	if (memchr(f->buf + f->pos, '\0', len)) {
		f->refused = INIFILE_ERR_NUL;
		f->refused_line = f->line;
		return NULL;
	}
	if (take > (size_t)num - 1) {
		f->refused = INIFILE_ERR_LONG_LINE;
		f->refused_line = f->line;
		return NULL;
	}
	memcpy(str, f->buf + f->pos, take);
	str[take] = '\0';
	f->pos += take;
	if (f->hook)
		f->hook(f->user, str, len);
	return str;
}

enum inifile_status inifile_parse(struct inifile *f, const char *buf, size_t len,
                                  ini_handler handler, inifile_line_fn hook, void *user)
{
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	f->hook = hook;
	f->user = user;
	f->result = ini_parse_stream(reader, f, handler, user);
	if (f->result > 0)
		return INIFILE_ERR_PARSE;
	if (f->refused)
		return f->refused;
	return f->result < 0 ? INIFILE_ERR_NOMEM : INIFILE_OK;
}

enum inifile_status inifile_parse_file(struct inifile *f, const char *path, size_t max,
                                       ini_handler handler, inifile_line_fn hook, void *user)
{
	enum inifile_status ret = INIFILE_ERR_READ;
	unsigned char *data = NULL;
	size_t len = 0;
	int e;

	e = fileio_read_input(path, max, &data, &len);
	if (e) {
		memset(f, 0, sizeof(*f));
		f->read_errno = e;
		f->file_max = max;
		goto exit;
	}
	ret = inifile_parse(f, (const char *)data, len, handler, hook, user);
	f->file_max = max;
	/* the contents are gone once we return */
	f->buf = NULL;
	f->len = 0;
exit:
	free(data);
	return ret;
}

bool inifile_reader_error(const struct inifile *f, int *line, char *msg, size_t size)
{
	if (f->read_errno == EFBIG)
		snprintf(msg, size, "cannot read: larger than %zu KiB", f->file_max / 1024);
	else if (f->read_errno)
		snprintf(msg, size, "cannot open: %s", fileio_strerror(f->read_errno));
	else if (f->refused == INIFILE_ERR_NUL)
		snprintf(msg, size, "NUL byte in line");
	else if (f->refused == INIFILE_ERR_LONG_LINE)
		snprintf(msg, size, "line longer than %d characters", f->line_max);
	else
		return false;
	*line = f->read_errno ? 0 : f->refused_line;
	return true;
}

int inifile_fail(struct inifile *f, const char *fmt, ...)
{
	va_list ap;

	if (f->failed)
		return 0;
	f->failed = true;
	f->fail_line = f->line;
	va_start(ap, fmt);
	vsnprintf(f->fail_msg, sizeof(f->fail_msg), fmt, ap);
	va_end(ap);
	return 0;
}

int inifile_set_string(struct inifile *f, char *dst, size_t size, const char *key,
                       const char *value)
{
	size_t n = strlen(value);

	if (n == 0)
		return inifile_fail(f, "%s: empty value", key);
	if (n >= size)
		return inifile_fail(f, "%s: value too long (limit exceeded)", key);
	memcpy(dst, value, n + 1);
	return 1;
}

int inifile_set_uint(struct inifile *f, unsigned *dst, unsigned lo, unsigned hi, const char *key,
                     const char *value)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end != '\0' || value[0] == '-' || v < lo || v > hi)
		return inifile_fail(f, "%s: expected a whole number from %u to %u", key, lo, hi);
	*dst = (unsigned)v;
	return 1;
}

int inifile_set_duration(struct inifile *f, unsigned *dst_s, unsigned lo, unsigned hi,
                         const char *key, const char *value)
{
	static const struct {
		char suffix;
		unsigned long seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	unsigned long v, mult = 1;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (!errno && end != value && value[0] != '-' && end[0] && !end[1]) {
		mult = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (end[0] == units[i].suffix)
				mult = units[i].seconds;
		end += mult != 0;
	}
	if (errno || end == value || *end != '\0' || value[0] == '-' || mult == 0 ||
	    v > hi / mult || v * mult < lo)
		return inifile_fail(
		    f, "%s: expected a duration from %u to %u s (e.g. 30, 30s, 5m, 1h)", key, lo,
		    hi);
	*dst_s = (unsigned)(v * mult);
	return 1;
}

int inifile_unknown_key(struct inifile *f, const char *key, const char *section,
                        const char *const *known, size_t n)
{
	const char *near = suggest_nearest(key, known, n);

	if (near)
		return inifile_fail(f, "unknown key '%s' in [%s]; did you mean '%s'?", key, section,
		                    near);
	return inifile_fail(f, "unknown key '%s' in [%s]", key, section);
}

bool inifile_first_error(const struct inifile *f, int *line, char *msg, size_t size,
                         const char *syntax_msg)
{
	bool have = f->failed;

	if (have) {
		*line = f->fail_line;
		snprintf(msg, size, "%s", f->fail_msg);
	} else {
		have = inifile_reader_error(f, line, msg, size);
	}
	/* result > 0 is the first line inih could not parse. */
	if (f->result > 0 && (!have || f->result < *line)) {
		*line = f->result;
		snprintf(msg, size, "%s", syntax_msg);
		return true;
	}
	if (!have && f->result < 0) {
		*line = 0;
		snprintf(msg, size, "out of memory while parsing");
		return true;
	}
	return have;
}

int inifile_load(struct inifile *f, const char *path, size_t max, ini_handler handler, void *user,
                 int *line, char *msg, size_t size, const char *syntax_msg)
{
	enum inifile_status st = inifile_parse_file(f, path, max, handler, NULL, user);

	if (inifile_first_error(f, line, msg, size, syntax_msg))
		return -1;
	return st == INIFILE_OK ? 0 : -1; /* fails closed should the two ever disagree */
}
