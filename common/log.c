#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *log_progname = "kma";
static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_journal;

static const char *const level_names[] = {
    [LOG_LVL_ERR] = "err",   [LOG_LVL_WARN] = "warn",   [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_threshold = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

bool log_level_parse(const char *name, enum log_level *out)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

static void log_vwrite(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	if (log_journal) {
		fprintf(stderr, "<%d>%s%s\n", (int)level, line, suffix);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		if (gmtime_r(&ts.tv_sec, &tm))
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s %s[%s]: %s%s\n", stamp, log_progname, level_names[level], line,
		        suffix);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	log_vwrite(level, "", fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_errno(enum log_level level, int errnum, const char *fmt, ...)
{
	va_list ap;
	char suffix[160];
	int saved = errno;

	if (level > log_threshold)
		return;
	snprintf(suffix, sizeof(suffix), ": %s", strerror(errnum));
	va_start(ap, fmt);
	log_vwrite(level, suffix, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_printable(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

void log_printable_copy(const char *in, char *out, size_t size)
{
	snprintf(out, size, "%.*s", LOG_SHOWN_MAX, in ? in : "");
	log_printable(out);
}
