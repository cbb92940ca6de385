#include "coord_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inifile.h"
#include "store_replica.h"
#include "urllist.h"

#ifndef KMA_COORD_DEFAULT_DB
#define KMA_COORD_DEFAULT_DB "/var/lib/kma-coord/coord.db"
#endif

/* coord.conf is a dozen lines; anything this large is not one. */
#define CONFIG_FILE_MAX (1024 * 1024)

struct parse_ctx {
	struct coord_config *cfg;
	struct inifile ini; /* ini.line: the line the handler is looking at */
};

void coord_config_defaults(struct coord_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "0.0.0.0:8443");
	snprintf(cfg->db, sizeof(cfg->db), "%s", KMA_COORD_DEFAULT_DB);
	cfg->report_interval_s = 30;
	cfg->max_body = 65536;
	cfg->max_connections = 8192;
	cfg->max_per_ip = 512;
	cfg->log_level = LOG_LVL_INFO;
	cfg->token_ttl_s = COORD_TOKEN_TTL_DEFAULT;
	cfg->cert_days = COORD_CERT_DAYS_DEFAULT;
	snprintf(cfg->cluster_id, sizeof(cfg->cluster_id), "%s", COORD_CLUSTER_ID_DEFAULT);
	cfg->stabilise_s = 60;
	cfg->step_timeout_s = 900;
	cfg->lease_ttl_s = 300;
	cfg->min_serving = 1;
	snprintf(cfg->etcd_prefix, sizeof(cfg->etcd_prefix), "/kma/");
	cfg->election_ttl_s = 5;
}

/* The keys of each section, for "did you mean" (a key parsed below and missing here is only
 * never suggested). */
static const char *const recovery_keys[] = {"stabilise", "step_timeout", "lease_ttl", "min_serving",
                                            "max_disrupted"};
static const char *const coord_keys[] = {
    "listen",
    "db",
    "status_listen",
    "cert",
    "key",
    "ca",
    "operator_ca",
    "ca_key",
    "token_ttl",
    "cert_days",
    "cluster_id",
    "max_connections",
    "max_connections_per_ip",
    "report_interval",
    "max_body",
    "log_level",
};

static int recovery_key(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct coord_config *cfg = ctx->cfg;
	unsigned max_disrupted = 0;

	if (strcmp(name, "stabilise") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->stabilise_s, 0, 86400, name, value);
	if (strcmp(name, "step_timeout") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->step_timeout_s, 5, 86400, name, value);
	if (strcmp(name, "lease_ttl") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->lease_ttl_s, 5, 86400, name, value);
	if (strcmp(name, "min_serving") == 0)
		return inifile_set_uint(&ctx->ini, &cfg->min_serving, 0, 1000, name, value);
	if (strcmp(name, "max_disrupted") == 0) {
		/* One lease per cluster: more at once is not implemented, so it is not accepted. */
		if (!inifile_set_uint(&ctx->ini, &max_disrupted, 1, 1000, name, value))
			return 0;
		if (max_disrupted != 1)
			return inifile_fail(&ctx->ini, "max_disrupted: only 1 is supported%s", "");
		return 1;
	}
	return inifile_unknown_key(&ctx->ini, name, "recovery", recovery_keys,
	                           sizeof(recovery_keys) / sizeof(recovery_keys[0]));
}

static const char *const ha_keys[] = {"store",         "etcd_endpoints", "etcd_ca",
                                      "etcd_cert",     "etcd_key",       "etcd_prefix",
                                      "advertise_url", "election_ttl"};

static int ha_key(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct coord_config *cfg = ctx->cfg;

	if (strcmp(name, "store") == 0) {
		if (strcmp(value, "sqlite") != 0 && strcmp(value, "etcd") != 0)
			return inifile_fail(&ctx->ini, "store: '%s' is not sqlite or etcd", value);
		cfg->etcd = strcmp(value, "etcd") == 0;
		return 1;
	}
	if (strcmp(name, "etcd_endpoints") == 0)
		return inifile_set_string(&ctx->ini, cfg->etcd_endpoints,
		                          sizeof(cfg->etcd_endpoints), name, value);
	if (strcmp(name, "etcd_ca") == 0)
		return inifile_set_string(&ctx->ini, cfg->etcd_ca, sizeof(cfg->etcd_ca), name,
		                          value);
	if (strcmp(name, "etcd_cert") == 0)
		return inifile_set_string(&ctx->ini, cfg->etcd_cert, sizeof(cfg->etcd_cert), name,
		                          value);
	if (strcmp(name, "etcd_key") == 0)
		return inifile_set_string(&ctx->ini, cfg->etcd_key, sizeof(cfg->etcd_key), name,
		                          value);
	if (strcmp(name, "etcd_prefix") == 0) {
		if (value[0] != '/' || strpbrk(value, " \t"))
			return inifile_fail(&ctx->ini, "etcd_prefix: '%s' does not begin with /",
			                    value);
		return inifile_set_string(&ctx->ini, cfg->etcd_prefix, sizeof(cfg->etcd_prefix),
		                          name, value);
	}
	if (strcmp(name, "advertise_url") == 0) {
		char why[160];

		/* One of the URLs agents and kmactl list: the same rule as theirs. */
		if (urllist_check(value, why, sizeof(why)) != 0)
			return inifile_fail(&ctx->ini, "advertise_url: %s", why);
		return inifile_set_string(&ctx->ini, cfg->advertise_url, sizeof(cfg->advertise_url),
		                          name, value);
	}
	if (strcmp(name, "election_ttl") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->election_ttl_s, 2, 60, name, value);
	return inifile_unknown_key(&ctx->ini, name, "ha", ha_keys,
	                           sizeof(ha_keys) / sizeof(ha_keys[0]));
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	struct coord_config *cfg = ctx->cfg;
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	if (section[0] == '\0')
		return inifile_fail(&ctx->ini, "'%s' is outside any [section]", name);
	if (strcmp(section, "recovery") == 0)
		return recovery_key(ctx, name, value);
	if (strcmp(section, "ha") == 0)
		return ha_key(ctx, name, value);
	if (strcmp(section, "coord") != 0)
		return inifile_fail(&ctx->ini, "unknown section [%s]", section);
	if (strcmp(name, "listen") == 0) {
		if (coord_config_split_listen(value, host, sizeof(host), &port) != 0)
			return inifile_fail(
			    &ctx->ini, "listen: '%s' is not ADDR:PORT or [ADDR]:PORT%s", value, "");
		return inifile_set_string(&ctx->ini, cfg->listen, sizeof(cfg->listen), name, value);
	}
	if (strcmp(name, "db") == 0)
		return inifile_set_string(&ctx->ini, cfg->db, sizeof(cfg->db), name, value);
	if (strcmp(name, "status_listen") == 0) {
		if (value[0] && coord_config_split_listen(value, host, sizeof(host), &port) != 0)
			return inifile_fail(&ctx->ini,
			                    "status_listen: '%s' is not ADDR:PORT or [ADDR]:PORT",
			                    value);
		return inifile_set_string(&ctx->ini, cfg->status_listen, sizeof(cfg->status_listen),
		                          name, value);
	}
	if (strcmp(name, "cert") == 0)
		return inifile_set_string(&ctx->ini, cfg->cert, sizeof(cfg->cert), name, value);
	if (strcmp(name, "key") == 0)
		return inifile_set_string(&ctx->ini, cfg->key, sizeof(cfg->key), name, value);
	if (strcmp(name, "ca") == 0)
		return inifile_set_string(&ctx->ini, cfg->ca, sizeof(cfg->ca), name, value);
	if (strcmp(name, "operator_ca") == 0)
		return inifile_set_string(&ctx->ini, cfg->operator_ca, sizeof(cfg->operator_ca),
		                          name, value);
	if (strcmp(name, "ca_key") == 0)
		return inifile_set_string(&ctx->ini, cfg->ca_key, sizeof(cfg->ca_key), name, value);
	if (strcmp(name, "token_ttl") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->token_ttl_s, 60, 604800, name, value);
	if (strcmp(name, "cert_days") == 0)
		return inifile_set_uint(&ctx->ini, &cfg->cert_days, 1, 3650, name, value);
	if (strcmp(name, "cluster_id") == 0)
		return inifile_set_string(&ctx->ini, cfg->cluster_id, sizeof(cfg->cluster_id), name,
		                          value);
	if (strcmp(name, "max_connections") == 0)
		return inifile_set_uint(&ctx->ini, &cfg->max_connections, 16, 1000000, name, value);
	if (strcmp(name, "max_connections_per_ip") == 0)
		return inifile_set_uint(&ctx->ini, &cfg->max_per_ip, 0, 1000000, name, value);
	if (strcmp(name, "report_interval") == 0)
		return inifile_set_duration(&ctx->ini, &cfg->report_interval_s, 1, 3600, name,
		                            value);
	if (strcmp(name, "max_body") == 0)
		return inifile_set_uint(&ctx->ini, &cfg->max_body, 1024, 16 * 1024 * 1024, name,
		                        value);
	if (strcmp(name, "log_level") == 0) {
		if (!log_level_parse(value, &cfg->log_level))
			return inifile_fail(
			    &ctx->ini,
			    "log_level: '%s' is not one of err, warn, notice, info, "
			    "debug",
			    value);
		return 1;
	}
	return inifile_unknown_key(&ctx->ini, name, section, coord_keys,
	                           sizeof(coord_keys) / sizeof(coord_keys[0]));
}

int coord_config_load(struct coord_config *cfg, const char *path, struct coord_config_error *err)
{
	struct parse_ctx ctx = {.cfg = cfg};

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	return inifile_load(&ctx.ini, path, CONFIG_FILE_MAX, handler, &ctx, &err->line,
	                    err->message, sizeof(err->message),
	                    "syntax error (expected [section], key = value or a comment)");
}

int coord_config_check(const struct coord_config *cfg, struct coord_config_error *err)
{
	static const char *const names[] = {"cert", "key", "ca", "operator_ca"};
	const char *values[] = {cfg->cert, cfg->key, cfg->ca, cfg->operator_ca};

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", cfg->path);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (values[i][0] == '\0') {
			snprintf(err->message, sizeof(err->message),
			         "[coord] %s is required (PEM file)", names[i]);
			return -1;
		}
	}
	if (cfg->etcd && (!cfg->etcd_endpoints[0] || !cfg->advertise_url[0] || !cfg->etcd_ca[0])) {
		snprintf(err->message, sizeof(err->message),
		         "[ha] store = etcd needs etcd_endpoints, etcd_ca and advertise_url");
		return -1;
	}
	if (cfg->etcd && !store_replica_available()) {
		snprintf(err->message, sizeof(err->message),
		         "[ha] store = etcd: this kma-coord's SQLite has no preupdate hook "
		         "(SQLITE_ENABLE_PREUPDATE_HOOK), which the etcd store needs (docs/ha.md)");
		return -1;
	}
	return 0;
}

int coord_config_split_listen(const char *listen, char *host, size_t size, unsigned *port)
{
	const char *colon, *h = listen;
	size_t hlen;
	char *end;
	unsigned long p;
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[INET6_ADDRSTRLEN];
	bool v6 = false;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			return -1;
		h = listen + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		v6 = true;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - listen);
	}
	if (hlen == 0 || hlen >= sizeof(tmp) || hlen >= size)
		return -1;
	memcpy(tmp, h, hlen);
	tmp[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, buf) != 1)
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || colon[1] == '-' || p == 0 || p > 65535)
		return -1;
	memcpy(host, tmp, hlen + 1);
	*port = (unsigned)p;
	return 0;
}

int coord_config_sockaddr(const char *listen, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	memset(ss, 0, sizeof(*ss));
	if (coord_config_split_listen(listen, host, sizeof(host), &port) != 0)
		return -1;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
	}
}

static int listen_(int fd)
{
	return listen(fd, SOMAXCONN);
}

int coord_listen_open(const char *listen, char *why, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, e;

	if (coord_config_sockaddr(listen, &ss) != 0) {
		snprintf(why, size, "'%s' is not a numeric ADDR:PORT or [ADDR]:PORT", listen);
		return -1;
	}
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, size, "%s: socket: %s", listen, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen_(fd) != 0) {
		e = errno;
		snprintf(why, size, "%s: %s%s", listen, strerror(e),
		         e == EADDRINUSE ? " (another kma-coord, or the status page, on that port?)"
		         : e == EADDRNOTAVAIL ? " (no interface of this host has that address)"
		         : e == EACCES        ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)"
		                              : "");
		close(fd);
		return -1;
	}
	return fd;
}
