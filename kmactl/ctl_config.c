#include "ctl_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inifile.h"
#include "urllist.h"

/* kmactl.conf is a handful of lines; anything this large is not one. */
#define CONFIG_FILE_MAX (64 * 1024)

struct parse_ctx {
	struct ctl_config *cfg;
	struct inifile ini; /* ini.line: the line the handler is looking at */
};

void ctl_config_init(struct ctl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

bool ctl_config_url_ok(const char *url)
{
	char why[200];

	return strlen(url) < CTL_URL_MAX && urllist_check(url, why, sizeof(why)) == 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	static const char *const keys[] = {"url", "cert", "key", "ca"};
	struct parse_ctx *ctx = user;
	struct ctl_config *cfg = ctx->cfg;

	if (section[0] == '\0')
		return inifile_fail(&ctx->ini, "'%s' is outside any [section]", name);
	if (strcmp(section, "kmactl") != 0)
		return inifile_fail(&ctx->ini, "unknown section [%s] (expected [kmactl])", section);
	if (strcmp(name, "url") == 0) {
		struct urllist l = {0};
		char why[200];

		if (urllist_add(&l, value, why, sizeof(why)) != 0)
			return inifile_fail(&ctx->ini, "url: %s", why);
		return inifile_set_string(&ctx->ini, cfg->url, sizeof(cfg->url), name, value);
	}
	if (strcmp(name, "cert") == 0)
		return inifile_set_string(&ctx->ini, cfg->cert, sizeof(cfg->cert), name, value);
	if (strcmp(name, "key") == 0)
		return inifile_set_string(&ctx->ini, cfg->key, sizeof(cfg->key), name, value);
	if (strcmp(name, "ca") == 0)
		return inifile_set_string(&ctx->ini, cfg->ca, sizeof(cfg->ca), name, value);
	return inifile_unknown_key(&ctx->ini, name, section, keys, sizeof(keys) / sizeof(keys[0]));
}

enum ctl_config_status ctl_config_load(struct ctl_config *cfg, const char *path, bool required,
                                       struct ctl_config_error *err)
{
	struct parse_ctx ctx = {.cfg = cfg};
	enum inifile_status st;

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path);
	st = inifile_parse_file(&ctx.ini, path, CONFIG_FILE_MAX, handler, NULL, &ctx);
	if (st == INIFILE_ERR_READ) {
		if (ctx.ini.read_errno == ENOENT && !required)
			return CTL_CONFIG_ABSENT;
		(void)inifile_reader_error(&ctx.ini, &err->line, err->message,
		                           sizeof(err->message));
		/* a file that exists but is unusable (too big, a directory) is a config error */
		return ctx.ini.read_errno == ENOENT || ctx.ini.read_errno == EACCES
		           ? CTL_CONFIG_NOINPUT
		           : CTL_CONFIG_INVALID;
	}
	if (inifile_first_error(&ctx.ini, &err->line, err->message, sizeof(err->message),
	                        "syntax error (expected [section], key = value or a comment)") ||
	    st != INIFILE_OK)
		return CTL_CONFIG_INVALID;
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	return CTL_CONFIG_OK;
}

/* A regular file we can open for reading; errno-style reason in *why otherwise. */
static bool readable(const char *path, int *why)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*why = errno;
		return false;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*why = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

enum ctl_config_status ctl_config_check(const struct ctl_config *cfg, struct ctl_config_error *err)
{
	const char *const names[] = {"cert", "key", "ca"};
	const char *const values[] = {cfg->cert, cfg->key, cfg->ca};
	const char *where = cfg->path[0] ? cfg->path : "the configuration";
	int why;

	/* the messages name the file or setting: flags may have set them, not the file */
	memset(err, 0, sizeof(*err));
	if (cfg->url[0] == '\0') {
		snprintf(err->message, sizeof(err->message),
		         "no coordinator URL: set [kmactl] url in %s or pass --url", where);
		return CTL_CONFIG_INVALID;
	}
	for (size_t i = 0; i < 2; i++) {
		if (values[i][0] == '\0') {
			snprintf(err->message, sizeof(err->message),
			         "no operator %s: set [kmactl] %s in %s or pass --%s", names[i],
			         names[i], where, names[i]);
			return CTL_CONFIG_INVALID;
		}
	}
	for (size_t i = 0; i < 3; i++) {
		if (values[i][0] && !readable(values[i], &why)) {
			snprintf(err->message, sizeof(err->message), "%s %s: %s", names[i],
			         values[i], strerror(why));
			return CTL_CONFIG_NOINPUT;
		}
	}
	return CTL_CONFIG_OK;
}

void ctl_config_error_format(const struct ctl_config_error *err, char *buf, size_t size)
{
	if (err->path[0] && err->line > 0)
		snprintf(buf, size, "%s:%d: %s", err->path, err->line, err->message);
	else if (err->path[0])
		snprintf(buf, size, "%s: %s", err->path, err->message);
	else
		snprintf(buf, size, "%s", err->message);
}
