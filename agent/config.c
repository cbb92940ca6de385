#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"
#include "inifile.h"

#ifndef KMA_DEFAULT_STATE_DIR
#define KMA_DEFAULT_STATE_DIR "/var/lib/kma-agent"
#endif
#ifndef KMA_BOARD_DIR
#define KMA_BOARD_DIR "/usr/share/kma-agent/boards"
#endif
#ifndef KMA_DEFAULT_BOARD
#define KMA_DEFAULT_BOARD "sim"
#endif

/* agent.conf is a dozen lines; anything this large is not one. */
#define CONFIG_FILE_MAX (1024 * 1024)

struct parse_ctx {
	struct agent_config *cfg;
	struct inifile ini; /* ini.line: the line the handler is looking at */
};

void config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", KMA_DEFAULT_STATE_DIR);
	cfg->log_level = LOG_LVL_INFO;
	cfg->hw_check_interval_s = 60;
	snprintf(cfg->board_name, sizeof(cfg->board_name), "%s", KMA_DEFAULT_BOARD);
	snprintf(cfg->board_dir, sizeof(cfg->board_dir), "%s", KMA_BOARD_DIR);
	snprintf(cfg->hal_root, sizeof(cfg->hal_root), "/");
	cfg->probe_interval_s = 30;
	cfg->probe_timeout_s = 5;
	cfg->max_handshakes = 64;
	cfg->max_per_source = 16;
	cfg->full_handshake_interval_s = 300;
	cfg->report_interval_s = 30;
}

/* "unknown key", with the nearest key of the section (a key parsed below and missing here
 * is only never suggested). */
static int unknown_key(struct parse_ctx *ctx, const char *section, const char *name)
{
	static const struct {
		const char *section;
		const char *keys[8];
	} sections[] = {
	    {"agent", {"state_dir", "log_level", "hw_check_interval", "user"}},
	    {"board", {"name", "dir", "root"}},
	    {"mesh",
	     {"listen", "peers", "probe_interval", "probe_timeout", "max_handshakes",
	      "max_per_source", "full_handshake_interval"}},
	    {"coordinator", {"url", "report_interval", "ca"}},
	};

	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(section, sections[i].section) == 0)
			return inifile_unknown_key(&ctx->ini, name, section, sections[i].keys, 8);
	return inifile_fail(&ctx->ini, "unknown key '%s' in [%s]", name, section);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	struct agent_config *cfg = ctx->cfg;

	if (strcmp(section, "agent") == 0) {
		if (strcmp(name, "state_dir") == 0)
			return inifile_set_string(&ctx->ini, cfg->state_dir, sizeof(cfg->state_dir),
			                          name, value);
		if (strcmp(name, "log_level") == 0) {
			if (!log_level_parse(value, &cfg->log_level))
				return inifile_fail(
				    &ctx->ini,
				    "log_level: '%s' is not one of err, warn, notice, "
				    "info, debug",
				    value);
			return 1;
		}
		if (strcmp(name, "hw_check_interval") == 0)
			return inifile_set_duration(&ctx->ini, &cfg->hw_check_interval_s, 1, 86400,
			                            name, value);
		if (strcmp(name, "user") == 0) {
			if (strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
			        strlen(value) ||
			    value[0] == '-')
				return inifile_fail(
				    &ctx->ini, "user: '%s' is not a user name (a-z, 0-9, _ and -)",
				    value);
			return inifile_set_string(&ctx->ini, cfg->user, sizeof(cfg->user), name,
			                          value);
		}
	} else if (strcmp(section, "board") == 0) {
		if (strcmp(name, "name") == 0)
			return inifile_set_string(&ctx->ini, cfg->board_name,
			                          sizeof(cfg->board_name), name, value);
		if (strcmp(name, "dir") == 0)
			return inifile_set_string(&ctx->ini, cfg->board_dir, sizeof(cfg->board_dir),
			                          name, value);
		if (strcmp(name, "root") == 0)
			return inifile_set_string(&ctx->ini, cfg->hal_root, sizeof(cfg->hal_root),
			                          name, value);
	} else if (strcmp(section, "mesh") == 0) {
		if (strcmp(name, "listen") == 0) {
			char host[HOSTPORT_HOST_MAX], why[160];
			unsigned port;

			if (hostport_split(value, host, sizeof(host), &port, why, sizeof(why)) != 0)
				return inifile_fail(&ctx->ini, "listen: %s", why);
			if (!hostport_is_numeric(host))
				return inifile_fail(
				    &ctx->ini, "listen: '%s' is not a numeric IPv4 or IPv6 address",
				    host);
			return inifile_set_string(&ctx->ini, cfg->mesh_listen,
			                          sizeof(cfg->mesh_listen), name, value);
		}
		if (strcmp(name, "peers") == 0)
			return inifile_set_string(&ctx->ini, cfg->peers_file,
			                          sizeof(cfg->peers_file), name, value);
		if (strcmp(name, "probe_interval") == 0)
			return inifile_set_duration(&ctx->ini, &cfg->probe_interval_s, 1, 86400,
			                            name, value);
		if (strcmp(name, "probe_timeout") == 0)
			return inifile_set_duration(&ctx->ini, &cfg->probe_timeout_s, 1, 300, name,
			                            value);
		if (strcmp(name, "max_handshakes") == 0)
			return inifile_set_uint(&ctx->ini, &cfg->max_handshakes, 1, 4096, name,
			                        value);
		if (strcmp(name, "max_per_source") == 0)
			return inifile_set_uint(&ctx->ini, &cfg->max_per_source, 1, 4096, name,
			                        value);
		if (strcmp(name, "full_handshake_interval") == 0)
			return inifile_set_duration(&ctx->ini, &cfg->full_handshake_interval_s, 0,
			                            86400, name, value);
	} else if (strcmp(section, "coordinator") == 0) {
		if (strcmp(name, "url") == 0) {
			struct urllist l = {0};
			char why[160];

			if (urllist_add(&l, value, why, sizeof(why)) != 0)
				return inifile_fail(&ctx->ini, "url: %s", why);
			cfg->coord_urls = l;
			return 1;
		}
		if (strcmp(name, "report_interval") == 0)
			return inifile_set_duration(&ctx->ini, &cfg->report_interval_s, 1, 3600,
			                            name, value);
		if (strcmp(name, "ca") == 0)
			return inifile_set_string(&ctx->ini, cfg->coord_ca, sizeof(cfg->coord_ca),
			                          name, value);
	} else if (section[0] == '\0') {
		return inifile_fail(&ctx->ini, "'%s' is outside any [section]", name);
	} else {
		return inifile_fail(&ctx->ini, "unknown section [%s]", section);
	}
	return unknown_key(ctx, section, name);
}

int config_load(struct agent_config *cfg, const char *path, struct config_error *err)
{
	struct parse_ctx ctx = {.cfg = cfg};

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	return inifile_load(&ctx.ini, path, CONFIG_FILE_MAX, handler, &ctx, &err->line,
	                    err->message, sizeof(err->message),
	                    "syntax error (expected [section], key = value or a comment)");
}
