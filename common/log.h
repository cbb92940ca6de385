#ifndef KMA_LOG_H
#define KMA_LOG_H

/*
 * Logging fit for journald and for a terminal. Lines go to stderr; under systemd
 * (JOURNAL_STREAM set) each line starts with a "<N>" syslog priority prefix, otherwise with
 * a UTC timestamp and the level. Never pass a private key, token or passphrase.
 */

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Sets the program name and threshold; lines above the threshold are dropped cheaply. */
/*
 * Text from the network or a device made fit for a log line, a file or a protobuf string:
 * every byte outside printable ASCII (0x20..0x7e) becomes '?', in place. The one sanitizer.
 */
void log_printable(char *s);

/* The first LOG_SHOWN_MAX bytes of in (NULL as "") into out (size bytes), log_printable. */
#define LOG_SHOWN_MAX 64
void log_printable_copy(const char *in, char *out, size_t size);

void log_init(const char *progname, enum log_level level);

/* Threshold as set by log_init or log_set_level. */
enum log_level log_get_level(void);
void log_set_level(enum log_level level);

/* Parses "err", "warn", "notice", "info" or "debug"; false when unknown. */
bool log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like log_msg, with ": <strerror(errnum)>" appended; errno is preserved. */
void log_errno(enum log_level level, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(...)    log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_DEBUG)                                              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
