#ifndef KMA_CTL_CONFIG_H
#define KMA_CTL_CONFIG_H

/*
 * kmactl configuration (INI; -c FILE, else $KMACTL_CONFIG, else
 * /etc/kma-agent/kmactl.conf):
 *
 *   [kmactl]
 *   url = https://coord.example:8443   the coordinator (https only); or its instances, up
 *                                       to 5 separated by commas and/or spaces, asked in
 *                                       order when one does not answer (ctl_http.h)
 *   cert = /etc/kma-agent/alice.pem     operator client certificate (PEM)
 *   key = /etc/kma-agent/alice.key      its private key (PEM); never printed
 *   ca = /etc/kma-agent/coord-ca.pem    CA that signed the coordinator's certificate (PEM);
 *                                       optional: the system's trust store otherwise
 *
 * Unknown sections and keys are errors. Command-line flags (--url, --cert, --key, --ca)
 * override the file; --url may be given several times, each one URL or a list.
 */

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>

#define CTL_URL_MAX 1024

struct ctl_config {
	char path[PATH_MAX];   /* the file that was read, "" when none */
	char url[CTL_URL_MAX]; /* one URL, or a list as urllist_add takes it */
	char cert[PATH_MAX];
	char key[PATH_MAX];
	char ca[PATH_MAX];
};

enum ctl_config_status {
	CTL_CONFIG_OK = 0,
	CTL_CONFIG_ABSENT,  /* the optional file does not exist: nothing was read */
	CTL_CONFIG_NOINPUT, /* a file that must be there cannot be read (exit 66) */
	CTL_CONFIG_INVALID, /* the file or a setting is wrong (exit 78) */
};

struct ctl_config_error {
	char path[PATH_MAX]; /* "" when the error is not tied to a file */
	int line;            /* 0 when the error is not tied to a line */
	char message[PATH_MAX + 256];
};

/* Empty configuration: every setting unset. */
void ctl_config_init(struct ctl_config *cfg);

/* True for one "https://HOST..." URL (scheme case-insensitive, urllist_check) that fits
 * CTL_URL_MAX. */
bool ctl_config_url_ok(const char *url);

/*
 * Reads path over cfg. A missing file is CTL_CONFIG_ABSENT when required is false (the
 * default path), CTL_CONFIG_NOINPUT when true (a file the operator named). On any other
 * failure err holds file, line (first error in file order) and message; cfg may then be
 * partially updated.
 */
enum ctl_config_status ctl_config_load(struct ctl_config *cfg, const char *path, bool required,
                                       struct ctl_config_error *err)
    __attribute__((warn_unused_result));

/*
 * After the flags are applied: url, cert and key are set (else CTL_CONFIG_INVALID), and
 * cert, key and ca (when set) are readable files (else CTL_CONFIG_NOINPUT naming the
 * file). err has no path and no line: the message names the setting or file.
 */
enum ctl_config_status ctl_config_check(const struct ctl_config *cfg, struct ctl_config_error *err)
    __attribute__((warn_unused_result));

/* Writes "FILE:LINE: message", "FILE: message" or "message" into buf. */
void ctl_config_error_format(const struct ctl_config_error *err, char *buf, size_t size);

#endif
