#ifndef KMA_HAL_H
#define KMA_HAL_H

/*
 * Hardware abstraction layer: everything the agent does that touches the appliance.
 *
 * A backend is a table of operations (struct hal_ops), chosen by the board definition's
 * "backend" key: "linux" reads DMI, device tree, block devices and network interfaces;
 * "sim" keeps every part under one directory that tests can change. Both store the
 * identity record under the state directory through hal/idstore.c.
 *
 * Sim directory layout (root):
 *   hw/board_serial hw/product_uuid hw/disk_serial hw/cpu_id hw/mac   hardware identity
 *   boot_id        changes at every simulated reboot
 *   health         missing or "ok": key service healthy; any other text: unhealthy, why
 *   clock_offset   seconds added to the real-time clock (tests of expiry)
 *   listenq.PORT   "queued backlog overflows drops": what the listen queue of PORT reports
 *                  instead of the real socket's (hal_listen_queue)
 *   wedge          present: the node's peer listener is wedged (a full listen queue: peers
 *                  get "connection refused"); a simulated reboot deletes it
 *   reboots        number of simulated reboots
 *   actions.log    one line per action (reboot, service_restart)
 *   crash_at       a crash point's name (hal_crash_point): the agent kills itself with
 *                  SIGKILL when it gets there, once (the file is removed first)
 *
 * A simulated reboot only changes files (boot_id, reboots, wedge): the machine stays up, so
 * the backend sets reboot_reexec and the agent restarts itself (same pid, new boot ID).
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "identity.pb-c.h"

#define HAL_ID_MAX  128
#define HAL_FP_LEN  32 /* SHA-256 */
#define HAL_BOOT_ID 64

enum hal_status {
	HAL_OK = 0,
	HAL_ERR_NOT_FOUND,   /* no identity record / part not present */
	HAL_ERR_CORRUPT,     /* record present but its checksum, framing or content is bad */
	HAL_ERR_IO,          /* read, write, fsync or rename failed (errno in hal->last_errno) */
	HAL_ERR_UNSUPPORTED, /* the backend or board cannot do this */
	HAL_ERR_INVALID,     /* bad argument or configuration */
	HAL_ERR_NOMEM,
	HAL_ERR_COMMAND, /* a board command ran and failed */
};

/* The hardware identity: every part as a printable string, empty when absent. */
struct hal_hwid {
	char board_serial[HAL_ID_MAX];
	char product_uuid[HAL_ID_MAX];
	char disk_serial[HAL_ID_MAX];
	char cpu_id[HAL_ID_MAX];
	char mac[HAL_ID_MAX];
};

struct hal_health {
	bool healthy;
	char detail[256];
};

/* A listening TCP port's accept queue and the node's listen drop counters (listenq.h). */
struct hal_listen_queue {
	unsigned port;
	bool listening;     /* something listens on the port */
	uint32_t queued;    /* connections waiting to be accepted */
	uint32_t backlog;   /* the most the queue holds */
	bool counters;      /* the two below were read */
	uint64_t overflows; /* TcpExt ListenOverflows: the node's, every port, since boot */
	uint64_t drops;     /* TcpExt ListenDrops */
};

/* What hal_identity_load found besides the record. */
struct hal_load_info {
	bool from_backup; /* the current record was unusable, the previous one was loaded */
	char detail[256]; /* why the current record was rejected, when it was */
};

struct hal;

/*
 * Backend operations. Every function returns a hal_status and never exits the process;
 * a failure leaves a readable explanation in hal->error.
 */
struct hal_ops {
	const char *name;
	/* Allocates backend state in hal->priv; hal->board, root and state_dir are set. */
	enum hal_status (*open)(struct hal *hal);
	/* Frees hal->priv; safe when open failed. */
	void (*close)(struct hal *hal);
	enum hal_status (*read_hwid)(struct hal *hal, struct hal_hwid *out);
	enum hal_status (*boot_id)(struct hal *hal, char *buf, size_t size);
	/* Identity record storage (see hal_identity_* below for the contracts). */
	enum hal_status (*identity_load)(struct hal *hal, Kma__V1__IdentityRecord **out,
	                                 struct hal_load_info *info);
	enum hal_status (*identity_store)(struct hal *hal, const Kma__V1__IdentityRecord *rec);
	enum hal_status (*identity_erase)(struct hal *hal);
	/*
	 * Actions. reboot may not return on real hardware; when it returns HAL_OK the
	 * system is going down and will end the agent, unless reboot_reexec is set.
	 */
	enum hal_status (*reboot)(struct hal *hal);
	enum hal_status (*service_restart)(struct hal *hal);
	/*
	 * May block (a board command, up to 15 s) and is called from the agent's health
	 * worker thread on its own copy of struct hal: it must touch nothing but its
	 * arguments, hal->error and hal->last_errno.
	 */
	enum hal_status (*health_check)(struct hal *hal, struct hal_health *out);
	/*
	 * Whether the node's peer listener must stop accepting (a fault the sim can inject;
	 * NULL on real hardware, where a wedged listener is something that happens, not an
	 * order).
	 */
	bool (*listener_wedged)(struct hal *hal);
	/*
	 * The accept queue of a local TCP port and the listen drop counters (listenq.h); runs
	 * in the agent's unprivileged side, quickly (netlink and /proc). The sim measures its
	 * real sockets unless root/listenq.<port> says "queued backlog overflows drops".
	 */
	enum hal_status (*listen_queue)(struct hal *hal, unsigned port,
	                                struct hal_listen_queue *out);
	/*
	 * Crash injection for tests of "the agent died in the middle of a step": when the
	 * named point is armed, the process dies there as if kill -9 hit it. NULL on real
	 * hardware.
	 */
	void (*crash_point)(struct hal *hal, const char *point);
	/* The reboot is simulated: the machine stays up, so the agent restarts itself. */
	bool reboot_reexec;
	/* Time (seconds since the epoch, UTC) and randomness, so tests can control them. */
	int64_t (*time_real)(struct hal *hal);
	enum hal_status (*random)(struct hal *hal, void *buf, size_t len);
};

struct hal {
	const struct hal_ops *ops;
	const struct board *board;
	char root[PATH_MAX];      /* "/" for linux (a fake tree in tests), the sim directory */
	char state_dir[PATH_MAX]; /* where the identity record lives */
	int last_errno;
	char error[512];
	void *priv;
};

/* Backend by name, NULL when this build has no such backend. */
const struct hal_ops *hal_backend_find(const char *name);

/*
 * Opens the backend the board names. root may be NULL ("/" for linux; required for sim).
 * The state directory is created 0700 when missing. hal_close(hal) is always safe after.
 */
enum hal_status hal_open(struct hal *hal, const struct board *board, const char *root,
                         const char *state_dir) __attribute__((warn_unused_result));
void hal_close(struct hal *hal);

enum hal_status hal_read_hwid(struct hal *hal, struct hal_hwid *out)
    __attribute__((warn_unused_result));
enum hal_status hal_boot_id(struct hal *hal, char *buf, size_t size)
    __attribute__((warn_unused_result));

/*
 * Loads the identity record. HAL_ERR_NOT_FOUND when there is none (unprovisioned).
 * When the current record is corrupt or truncated, the previous one (kept by the last
 * store) is loaded instead and info->from_backup is set; HAL_ERR_CORRUPT when neither is
 * usable. A record is never half-loaded. The caller frees *out with
 * kma__v1__identity_record__free_unpacked(*out, NULL).
 */
enum hal_status hal_identity_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                                  struct hal_load_info *info) __attribute__((warn_unused_result));

/* Stores the record atomically (temp file, fsync, rename, fsync directory), mode 0600. */
enum hal_status hal_identity_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
    __attribute__((warn_unused_result));

/* Erases the identity record (and only it). Succeeds when there was none. */
enum hal_status hal_identity_erase(struct hal *hal) __attribute__((warn_unused_result));

enum hal_status hal_reboot(struct hal *hal) __attribute__((warn_unused_result));
enum hal_status hal_service_restart(struct hal *hal) __attribute__((warn_unused_result));
/*
 * Whether the local key service is up and serving keys. Blocks up to 15 s on linux boards:
 * the daemon calls it from its health worker thread, on a copy of *hal (see struct hal_ops).
 */
enum hal_status hal_health_check(struct hal *hal, struct hal_health *out)
    __attribute__((warn_unused_result));

/* True when the backend says the peer listener is wedged (sim fault "wedge"). */
bool hal_listener_wedged(struct hal *hal);

/* The accept queue of local TCP port (struct hal_ops: listen_queue). */
enum hal_status hal_listen_queue(struct hal *hal, unsigned port, struct hal_listen_queue *out)
    __attribute__((warn_unused_result));

/*
 * A point where a test may kill the agent (sim file crash_at); nothing on real hardware.
 * Points: "factory_reset_erased" (identity erased, result not yet recorded),
 * "quickstart_enrolled" (certificate issued and token spent, identity not yet stored).
 */
void hal_crash_point(struct hal *hal, const char *point);

/* True when a successful hal_reboot leaves the machine up and the agent must re-exec. */
bool hal_reboot_reexecs(const struct hal *hal);
int64_t hal_time_real(struct hal *hal);
enum hal_status hal_random(struct hal *hal, void *buf, size_t len)
    __attribute__((warn_unused_result));

/* SHA-256 over the parts, each length-prefixed, in a fixed order. */
void hal_hwid_fingerprint(const struct hal_hwid *id, uint8_t out[HAL_FP_LEN]);

/* Bit (1u << KMA_PART_x) set for each part that differs between a and b. */
unsigned hal_hwid_diff(const struct hal_hwid *a, const struct hal_hwid *b);

/* Converts between hal_hwid and the wire message (strings are copied / borrowed). */
void hal_hwid_to_msg(const struct hal_hwid *id, Kma__V1__HardwareIdentity *msg,
                     uint8_t fp_buf[HAL_FP_LEN]);
void hal_hwid_from_msg(const Kma__V1__HardwareIdentity *msg, struct hal_hwid *id);

const char *hal_status_str(enum hal_status st);

#endif
