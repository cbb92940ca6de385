#ifndef KMA_BOARD_H
#define KMA_BOARD_H

/*
 * Board definitions: which HAL backend a product uses, where its serial numbers come
 * from, which commands reboot it and restart and health-check its key service, and which
 * recovery steps are automatic or manual on that product.
 *
 * A board is a folder with a board.conf (INI) file; a new product is a new folder and
 * no code change. Boards are searched in the directory given by the agent configuration
 * (default KMA_BOARD_DIR, the installed share/kma-agent/boards).
 */

#include <stdbool.h>

#include "vocab.h"

#define BOARD_NAME_MAX 64
#define BOARD_TEXT_MAX 512

/*
 * Recovery steps a plan may contain (enum kma_step_kind, common/vocab.def); each is
 * automatic or manual on a given board. A board file names only the steps it makes manual
 * (a step it does not name is automatic).
 */

struct board_step_mode {
	bool manual;
	char instruction[BOARD_TEXT_MAX]; /* what an operator does when manual */
};

/*
 * Where each part of the hardware identity is read from, as "kind:argument":
 * "dmi:board_serial" (/sys/class/dmi/id/board_serial), "devicetree:serial-number",
 * "block:auto" or "block:sda" (block-device serial), "cpuinfo:Serial" or "cpuinfo:auto",
 * "net:auto" or "net:eth0" (MAC address), "file:/path" (first line of a file),
 * "none" (the part does not exist on this product). The sim backend ignores them.
 */
struct board_sources {
	char board_serial[BOARD_TEXT_MAX];
	char product_uuid[BOARD_TEXT_MAX];
	char disk_serial[BOARD_TEXT_MAX];
	char cpu_id[BOARD_TEXT_MAX];
	char mac[BOARD_TEXT_MAX];
};

/* Shell-free command lines (split on white space, run with execvp), empty when none. */
struct board_actions {
	char reboot[BOARD_TEXT_MAX];
	char service_restart[BOARD_TEXT_MAX];
	char health_check[BOARD_TEXT_MAX];
};

/*
 * [kmip]: a KMIP check of the product's key service, the proof that it serves keys (an
 * empty address: none declared, the health_check command alone decides). The agent
 * connects to address with mutual TLS, sends one request and wants a successful answer:
 * operation "discover_versions" (default), "query" (operations and server information) or
 * "get" (of the canary key whose unique identifier is canary_uid). client_cert and
 * client_key are "identity" (the node's own, the default) or absolute PEM paths (both);
 * server_ca is "identity" (the cluster CA, the default) or an absolute PEM path (required
 * with a client certificate of its own); server_name, when set, is the name the key
 * service's certificate must carry (CN or DNS SAN), else any certificate server_ca signed
 * is taken.
 */
struct board_kmip {
	char address[BOARD_TEXT_MAX]; /* host:port, e.g. 127.0.0.1:5696 */
	char operation[BOARD_NAME_MAX];
	char canary_uid[BOARD_TEXT_MAX];
	char client_cert[BOARD_TEXT_MAX];
	char client_key[BOARD_TEXT_MAX];
	char server_ca[BOARD_TEXT_MAX];
	char server_name[BOARD_NAME_MAX];
	unsigned timeout_s; /* the whole check: connect, handshake, request, answer (1..60) */
};

struct board {
	char name[BOARD_NAME_MAX];
	char description[BOARD_TEXT_MAX];
	char backend[BOARD_NAME_MAX]; /* HAL backend: "linux", "sim" */
	char arch[BOARD_NAME_MAX];    /* informational: x86_64, aarch64, armhf, any */
	bool unprivileged;            /* the agent may run as an unprivileged user */
	struct board_sources sources;
	struct board_actions actions;
	struct board_kmip kmip;
	struct board_step_mode steps[KMA_STEP_KIND_COUNT]; /* by kind; [0] unused */
};

enum board_status {
	BOARD_OK = 0,
	BOARD_ERR_NOT_FOUND, /* no such board folder or board.conf */
	BOARD_ERR_SYNTAX,    /* INI syntax error (line in err) */
	BOARD_ERR_INVALID,   /* unknown key, bad value or missing required key (line in err) */
};

struct board_error {
	char path[512];
	int line; /* 0 when not tied to a line */
	char message[256];
};

/*
 * Loads board <dir>/<name>/board.conf into b. On failure fills err (file, line, message)
 * and leaves b zeroed.
 */
enum board_status board_load(const char *dir, const char *name, struct board *b,
                             struct board_error *err) __attribute__((warn_unused_result));

/* Loads a board.conf from an explicit path. */
enum board_status board_load_file(const char *path, struct board *b, struct board_error *err)
    __attribute__((warn_unused_result));

#endif
