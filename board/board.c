#include "board.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hostport.h"
#include "inifile.h"
#include "suggest.h"

/* A board.conf is a few dozen lines; anything near this size is not one. */
#define BOARD_FILE_MAX (64 * 1024)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum key_kind {
	K_NAME,    /* identifier: letters, digits, '.', '_', '-' */
	K_TEXT,    /* free text for people, may continue on indented lines */
	K_BACKEND, /* "linux" or "sim" */
	K_BOOL,    /* "true" or "false" */
	K_SOURCE,  /* hardware identity source, "kind:argument" or "none" */
	K_COMMAND, /* command line run without a shell */
	K_STEP,    /* "automatic" or "manual" */
	K_INSTR,   /* manual step instruction: free text, may continue */
	K_ADDRESS, /* host:port, port 1..65535 */
	K_KMIP_OP, /* discover_versions, query or get */
	K_UID,     /* a KMIP unique identifier: printable ASCII */
	K_PEM,     /* "identity" or an absolute path */
	K_SECONDS, /* whole seconds, 1..60 */
};

struct key {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t off;  /* where the value goes in struct board (not for steps) */
	size_t size; /* its size */
	int step;    /* for K_STEP / K_INSTR */
};

#define FIELD(sec, nm, kind, member)                                                               \
	{                                                                                          \
		sec, nm, kind, offsetof(struct board, member),                                     \
		    sizeof(((struct board *)0)->member), -1                                        \
	}
#define STEP(e, id)                                                                                \
	{"recovery", id, K_STEP, 0, 0, KMA_STEP_KIND_##e},                                         \
	{                                                                                          \
		"recovery", id "_instruction", K_INSTR, 0, BOARD_TEXT_MAX, KMA_STEP_KIND_##e       \
	}

static const struct key keys[] = {
    FIELD("board", "name", K_NAME, name),
    FIELD("board", "description", K_TEXT, description),
    FIELD("board", "backend", K_BACKEND, backend),
    FIELD("board", "arch", K_NAME, arch),
    FIELD("board", "unprivileged", K_BOOL, unprivileged),
    FIELD("identity", "board_serial", K_SOURCE, sources.board_serial),
    FIELD("identity", "product_uuid", K_SOURCE, sources.product_uuid),
    FIELD("identity", "disk_serial", K_SOURCE, sources.disk_serial),
    FIELD("identity", "cpu_id", K_SOURCE, sources.cpu_id),
    FIELD("identity", "mac", K_SOURCE, sources.mac),
    FIELD("actions", "reboot", K_COMMAND, actions.reboot),
    FIELD("actions", "service_restart", K_COMMAND, actions.service_restart),
    FIELD("actions", "health_check", K_COMMAND, actions.health_check),
    FIELD("kmip", "address", K_ADDRESS, kmip.address),
    FIELD("kmip", "operation", K_KMIP_OP, kmip.operation),
    FIELD("kmip", "canary_uid", K_UID, kmip.canary_uid),
    FIELD("kmip", "client_cert", K_PEM, kmip.client_cert),
    FIELD("kmip", "client_key", K_PEM, kmip.client_key),
    FIELD("kmip", "server_ca", K_PEM, kmip.server_ca),
    FIELD("kmip", "server_name", K_NAME, kmip.server_name),
    FIELD("kmip", "timeout", K_SECONDS, kmip.timeout_s),
/* Every step kind of the vocabulary, with its instruction. */
#define KMA_STEP_KIND(e, id, disrupts) STEP(e, id),
#include "vocab.def"
#undef KMA_STEP_KIND
};

static const char *const sections[] = {"board", "identity", "actions", "kmip", "recovery"};

/* Parser state; ini.line is the line inih is working on when the handler runs. */
struct parse {
	struct inifile ini;
	bool indented;  /* the current line starts with white space */
	bool have_prev; /* mirrors inih's "previous name" (continuation lines) */
	int prev_key;   /* index in keys[] of the previous name, -1 when unknown */
	int key_line[ARRAY_SIZE(keys)];
	bool have_err; /* err_* below are set */
	int err_line;  /* line of the first error found by us, 0 when none applies */
	enum board_status err_status;
	char err_msg[256];
	struct board *b;
};

static void fail(struct parse *p, int line, enum board_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct parse *p, int line, enum board_status st, const char *fmt, ...)
{
	va_list ap;

	/*
	 * Keep the first error in file order (inih keeps going after one); errors found
	 * after parsing (line 0) only count when parsing found none.
	 */
	if (p->have_err && !(line > 0 && line < p->err_line))
		return;
	p->have_err = true;
	p->err_line = line;
	p->err_status = st;
	va_start(ap, fmt);
	vsnprintf(p->err_msg, sizeof(p->err_msg), fmt, ap);
	va_end(ap);
}

static bool is_section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strlen(sections[i]) == len && memcmp(sections[i], name, len) == 0)
			return true;
	return false;
}

/* Looks at a line before inih does: section names and the continuation state. */
static void inspect_line(void *user, const char *s, size_t len)
{
	struct parse *p = user;
	size_t i = 0;
	const char *close;

	if (p->ini.line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3; /* inih skips a UTF-8 byte order mark */
	p->indented = len > i && (s[i] == ' ' || s[i] == '\t');
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	/* An indented line after a name is a continuation for inih, even "[x]". */
	if (i == len || s[i] != '[' || (p->indented && p->have_prev))
		return;
	close = memchr(s + i, ']', len - i);
	if (!close)
		return; /* inih reports the syntax error */
	/* inih starts a new section here and forgets the previous name. */
	p->have_prev = false;
	p->prev_key = -1;
	if (!is_section_known(s + i + 1, (size_t)(close - (s + i + 1))))
		fail(p, p->ini.line, BOARD_ERR_INVALID, "unknown section [%.*s]",
		     (int)(close - (s + i + 1)), s + i + 1);
}

static int find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "unknown key", with the nearest key of the section when one is near (suggest.h). */
static void unknown_key(struct parse *p, const char *section, const char *name)
{
	const char *known[ARRAY_SIZE(keys)];
	const char *near;
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0)
			known[n++] = keys[i].name;
	near = suggest_nearest(name, known, n);
	if (near)
		fail(p, p->ini.line, BOARD_ERR_INVALID,
		     "unknown key '%s' in [%s]; did you mean '%s'?", name, section, near);
	else
		fail(p, p->ini.line, BOARD_ERR_INVALID, "unknown key '%s' in [%s]", name, section);
}

static bool chars_ok(const char *v, const char *extra)
{
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
			return false;
	return true;
}

static bool printable_ascii(const char *v)
{
	for (const char *c = v; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return false;
	return true;
}

/*
 * Text for people: valid UTF-8 without control characters (it ends up in JSON and
 * protobuf strings, which must be UTF-8).
 */
static bool text_ok(const char *v)
{
	const unsigned char *c = (const unsigned char *)v;

	while (*c) {
		size_t n;
		unsigned cp;

		if (*c < 0x20 || *c == 0x7f)
			return false;
		if (*c < 0x80) {
			c++;
			continue;
		}
		if ((*c & 0xe0) == 0xc0) {
			n = 1;
			cp = *c & 0x1f;
		} else if ((*c & 0xf0) == 0xe0) {
			n = 2;
			cp = *c & 0x0f;
		} else if ((*c & 0xf8) == 0xf0) {
			n = 3;
			cp = *c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((c[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (c[i] & 0x3f);
		}
		/* overlong forms, surrogates and values past U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		c += n + 1;
	}
	return true;
}

/* A single path-like name: no '/', not "." or "..". */
static bool plain_name(const char *v, const char *extra)
{
	return *v && strcmp(v, ".") != 0 && strcmp(v, "..") != 0 && chars_ok(v, extra);
}

static bool has_dotdot(const char *path)
{
	const char *s = path;

	while ((s = strstr(s, "..")) != NULL) {
		bool start = s == path || s[-1] == '/';
		bool end = s[2] == '\0' || s[2] == '/';

		if (start && end)
			return true;
		s += 2;
	}
	return false;
}

/*
 * Checks a hardware identity source string (syntax in board.h); NULL when valid, else
 * what is wrong with it.
 */
static const char *source_problem(const char *v)
{
	const char *arg = strchr(v, ':');
	size_t kind_len = arg ? (size_t)(arg - v) : strlen(v);

	if (strcmp(v, "none") == 0)
		return NULL;
	if (!arg)
		return "expected kind:argument or none";
	arg++;
	if (!*arg)
		return "empty argument";
#define KIND(k) (kind_len == strlen(k) && strncmp(v, k, kind_len) == 0)
	if (KIND("dmi"))
		return plain_name(arg, "_") ? NULL
		                            : "dmi: wants a /sys/class/dmi/id attribute name";
	if (KIND("devicetree")) {
		/* a property, possibly below a node: "serial-number", "chosen/serial" */
		if (arg[0] == '/' || has_dotdot(arg) || !chars_ok(arg, ",._+-@#/"))
			return "devicetree: wants a relative property path";
		return NULL;
	}
	if (KIND("block"))
		return plain_name(arg, "._-") ? NULL : "block: wants auto or a device name";
	if (KIND("cpuinfo"))
		return chars_ok(arg, " _-") ? NULL : "cpuinfo: wants auto or a field name";
	if (KIND("net")) /* IFNAMSIZ is 16 including the NUL */
		return plain_name(arg, "._-") && strlen(arg) < 16
		           ? NULL
		           : "net: wants auto or an interface name";
	if (KIND("file")) {
		if (arg[0] != '/' || has_dotdot(arg) || !printable_ascii(arg) ||
		    strpbrk(arg, " \t"))
			return "file: wants an absolute path without '..' or spaces";
		return NULL;
	}
#undef KIND
	return "unknown kind (dmi, devicetree, block, cpuinfo, net, file, none)";
}

/* host:port (hostport.h); NULL when valid. */
static const char *address_problem(const char *v)
{
	static char why[96];
	char host[HOSTPORT_HOST_MAX];
	unsigned port;

	if (!printable_ascii(v) || strpbrk(v, " \t"))
		return "wants host:port without spaces";
	if (hostport_split(v, host, sizeof(host), &port, why, sizeof(why)) != 0)
		return why;
	return NULL;
}

static bool set_string(struct parse *p, const struct key *k, char *dst, size_t size,
                       const char *value, bool append)
{
	size_t have = append ? strlen(dst) : 0;
	size_t need = strlen(value) + (have && *value ? 1 : 0);

	if (have + need >= size) {
		fail(p, p->ini.line, BOARD_ERR_INVALID, "%s is longer than %zu characters", k->name,
		     size - 1);
		return false;
	}
	if (have && *value)
		dst[have++] = ' ';
	memcpy(dst + have, value, strlen(value) + 1);
	return true;
}

static bool check_value(struct parse *p, const struct key *k, const char *value)
{
	const char *why = NULL;

	switch (k->kind) {
	case K_NAME:
		if (!*value || !chars_ok(value, "._-"))
			why = "wants letters, digits, '.', '_' or '-'";
		break;
	case K_TEXT:
	case K_INSTR:
		if (!text_ok(value))
			why = "contains control characters or is not UTF-8";
		break;
	case K_BACKEND:
		if (strcmp(value, "linux") != 0 && strcmp(value, "sim") != 0)
			why = "wants linux or sim";
		break;
	case K_BOOL:
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			why = "wants true or false";
		break;
	case K_SOURCE:
		why = source_problem(value);
		break;
	case K_COMMAND:
		if (!printable_ascii(value))
			why = "wants printable ASCII";
		break;
	case K_STEP:
		if (strcmp(value, "automatic") != 0 && strcmp(value, "manual") != 0)
			why = "wants automatic or manual";
		break;
	case K_ADDRESS:
		why = address_problem(value);
		break;
	case K_KMIP_OP:
		if (strcmp(value, "discover_versions") != 0 && strcmp(value, "query") != 0 &&
		    strcmp(value, "get") != 0)
			why = "wants discover_versions, query or get";
		break;
	case K_UID:
		if (!*value || !printable_ascii(value) || strlen(value) > 128)
			why = "wants up to 128 printable ASCII characters";
		break;
	case K_PEM:
		if (strcmp(value, "identity") != 0 &&
		    (value[0] != '/' || has_dotdot(value) || !printable_ascii(value)))
			why = "wants identity or an absolute path without '..'";
		break;
	case K_SECONDS: {
		char *end;
		unsigned long v = strtoul(value, &end, 10);

		if (!isdigit((unsigned char)value[0]) || *end || v < 1 || v > 60)
			why = "wants whole seconds from 1 to 60";
		break;
	}
	}
	if (why)
		fail(p, p->ini.line, BOARD_ERR_INVALID, "[%s] %s = \"%s\": %s", k->section, k->name,
		     value, why);
	return why == NULL;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct board *b = p->b;
	bool cont = p->indented && p->have_prev;
	int idx;
	const struct key *k;

	if (!cont) {
		p->have_prev = true;
		p->prev_key = -1;
	}
	if (!*section) {
		fail(p, p->ini.line, BOARD_ERR_INVALID, "key '%s' outside a section", name);
		return 0;
	}
	if (!is_section_known(section, strlen(section))) {
		/* reported on the section line, which comes first */
		fail(p, p->ini.line, BOARD_ERR_INVALID, "key '%s' in unknown section [%s]", name,
		     section);
		return 0;
	}
	idx = cont ? p->prev_key : find_key(section, name);
	if (idx < 0) {
		if (!cont)
			unknown_key(p, section, name);
		return 0; /* a continuation of a bad key: that key was reported */
	}
	k = &keys[idx];
	if (cont && k->kind != K_TEXT && k->kind != K_INSTR) {
		fail(p, p->ini.line, BOARD_ERR_INVALID,
		     "indented line continues '%s', which takes a single line", k->name);
		return 0;
	}
	if (!cont && p->key_line[idx]) {
		fail(p, p->ini.line, BOARD_ERR_INVALID, "'%s' in [%s] already set on line %d", name,
		     section, p->key_line[idx]);
		return 0;
	}
	p->prev_key = idx;
	if (!cont)
		p->key_line[idx] = p->ini.line;
	if (!check_value(p, k, value))
		return 0;

	switch (k->kind) {
	case K_BOOL:
		*(bool *)((char *)b + k->off) = strcmp(value, "true") == 0;
		return 1;
	case K_STEP:
		b->steps[k->step].manual = strcmp(value, "manual") == 0;
		return 1;
	case K_SECONDS:
		*(unsigned *)((char *)b + k->off) = (unsigned)strtoul(value, NULL, 10);
		return 1;
	case K_INSTR:
		return set_string(p, k, b->steps[k->step].instruction, k->size, value, cont);
	default:
		return set_string(p, k, (char *)b + k->off, k->size, value, cont);
	}
}

/* Default board name: the folder that holds board.conf. */
static void name_from_path(const char *path, char *out, size_t size)
{
	const char *end = strrchr(path, '/');
	const char *start;

	out[0] = '\0';
	if (!end || end == path)
		return;
	start = end;
	while (start > path && start[-1] != '/')
		start--;
	if ((size_t)(end - start) < size) {
		memcpy(out, start, (size_t)(end - start));
		out[end - start] = '\0';
	}
	if (!chars_ok(out, "._-"))
		out[0] = '\0';
}

/* [kmip]: an address makes the rest mean something; defaults filled in. */
static void check_kmip(struct parse *p)
{
	struct board_kmip *k = &p->b->kmip;
	int line = p->key_line[find_key("kmip", "address")];

	if (!k->address[0]) {
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (strcmp(keys[i].section, "kmip") == 0 && p->key_line[i])
				fail(p, p->key_line[i], BOARD_ERR_INVALID,
				     "[kmip] %s without an address", keys[i].name);
		return;
	}
	if (!k->operation[0])
		snprintf(k->operation, sizeof(k->operation), "discover_versions");
	if (strcmp(k->operation, "get") == 0 && !k->canary_uid[0])
		fail(
		    p, line, BOARD_ERR_INVALID,
		    "[kmip] operation = get needs canary_uid (the canary key's unique identifier)");
	if (strcmp(k->operation, "get") != 0 && k->canary_uid[0])
		fail(p, p->key_line[find_key("kmip", "canary_uid")], BOARD_ERR_INVALID,
		     "[kmip] canary_uid is only for operation = get");
	if (!k->client_cert[0])
		snprintf(k->client_cert, sizeof(k->client_cert), "identity");
	if (!k->client_key[0])
		snprintf(k->client_key, sizeof(k->client_key), "identity");
	if (!k->server_ca[0])
		snprintf(k->server_ca, sizeof(k->server_ca), "identity");
	if ((strcmp(k->client_cert, "identity") == 0) != (strcmp(k->client_key, "identity") == 0))
		fail(p, line, BOARD_ERR_INVALID,
		     "[kmip] client_cert and client_key are both identity or both paths");
	else if (strcmp(k->client_cert, "identity") != 0 && strcmp(k->server_ca, "identity") == 0)
		fail(p, line, BOARD_ERR_INVALID,
		     "[kmip] a client_cert of its own needs a server_ca path too");
	if (!k->timeout_s)
		k->timeout_s = 5;
}

/* Cross-field rules and required keys, checked once the whole file is read. */
static void check_board(struct parse *p, const char *path)
{
	struct board *b = p->b;
	static const size_t source_off[] = {
	    offsetof(struct board, sources.board_serial),
	    offsetof(struct board, sources.product_uuid),
	    offsetof(struct board, sources.disk_serial),
	    offsetof(struct board, sources.cpu_id),
	    offsetof(struct board, sources.mac),
	};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		/* A step the file does not name is automatic. */
		bool required = (k->kind == K_BACKEND ||
		                 (k->kind == K_SOURCE && strcmp(b->backend, "linux") == 0));

		if (required && !p->key_line[i])
			fail(p, 0, BOARD_ERR_INVALID, "missing '%s' in [%s]", k->name, k->section);
	}
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++) {
		const char *id = kma_step_kind_id((enum kma_step_kind)s);
		int line = p->key_line[find_key("recovery", id)];

		if (b->steps[s].manual && !b->steps[s].instruction[0])
			fail(p, line, BOARD_ERR_INVALID,
			     "manual step '%s' needs %s_instruction (what the operator does)", id,
			     id);
	}
	check_kmip(p);
	if (!b->name[0])
		name_from_path(path, b->name, sizeof(b->name));
	if (!b->name[0])
		fail(p, 0, BOARD_ERR_INVALID, "missing 'name' in [board]");
	if (!b->arch[0])
		snprintf(b->arch, sizeof(b->arch), "any");
	/* The sim backend ignores sources; say so instead of leaving them empty. */
	for (size_t i = 0; i < ARRAY_SIZE(source_off); i++) {
		char *src = (char *)b + source_off[i];

		if (!src[0])
			snprintf(src, BOARD_TEXT_MAX, "none");
	}
}

enum board_status board_load_file(const char *path, struct board *b, struct board_error *err)
{
	enum board_status ret = BOARD_ERR_INVALID;
	struct parse *p = NULL;
	enum inifile_status st;

	memset(b, 0, sizeof(*b));
	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
	if (!path || !*path) {
		snprintf(err->message, sizeof(err->message), "no board file given");
		goto exit;
	}
	p = calloc(1, sizeof(*p) + sizeof(struct board));
	if (!p) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		goto exit;
	}
	p->b = (struct board *)(p + 1);
	p->prev_key = -1;

	st = inifile_parse_file(&p->ini, path, BOARD_FILE_MAX, handler, inspect_line, p);
	if (st == INIFILE_ERR_READ) {
		int rc = p->ini.read_errno;

		ret = rc == EFBIG ? BOARD_ERR_INVALID : BOARD_ERR_NOT_FOUND;
		snprintf(err->message, sizeof(err->message), "cannot read board file: %s",
		         rc == EFBIG ? "larger than 64 KiB" : fileio_strerror(rc));
		goto exit;
	}
	if (p->ini.result < 0) {
		snprintf(err->message, sizeof(err->message), "out of memory while parsing");
		goto exit;
	}
	if (p->ini.refused) {
		char why[64];
		int line;

		inifile_reader_error(&p->ini, &line, why, sizeof(why));
		fail(p, line,
		     p->ini.refused == INIFILE_ERR_NUL ? BOARD_ERR_SYNTAX : BOARD_ERR_INVALID, "%s",
		     why);
	}
	/* Our error wins when it is on the same line or earlier than inih's. */
	if (p->ini.result > 0 && (!p->have_err || p->ini.result < p->err_line)) {
		ret = BOARD_ERR_SYNTAX;
		err->line = p->ini.result;
		snprintf(err->message, sizeof(err->message),
		         "syntax error (expected [section], name = value or a comment)");
		goto exit;
	}
	if (!p->have_err)
		check_board(p, path);
	if (p->have_err) {
		ret = p->err_status;
		err->line = p->err_line;
		snprintf(err->message, sizeof(err->message), "%s", p->err_msg);
		goto exit;
	}
	*b = *p->b;
	ret = BOARD_OK;
exit:
	free(p);
	return ret;
}

enum board_status board_load(const char *dir, const char *name, struct board *b,
                             struct board_error *err)
{
	char path[512];

	if (!dir || !name || !plain_name(name, "._-")) {
		memset(b, 0, sizeof(*b));
		memset(err, 0, sizeof(*err));
		snprintf(err->message, sizeof(err->message), "bad board name '%s'",
		         name ? name : "");
		return BOARD_ERR_INVALID;
	}
	if (snprintf(path, sizeof(path), "%s/%s/board.conf", dir, name) >= (int)sizeof(path)) {
		memset(b, 0, sizeof(*b));
		memset(err, 0, sizeof(*err));
		snprintf(err->message, sizeof(err->message), "board path too long");
		return BOARD_ERR_INVALID;
	}
	return board_load_file(path, b, err);
}
