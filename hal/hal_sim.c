/*
 * The sim backend: a whole appliance as files under hal->root (layout in hal.h), so tests
 * and the demo can replace a board, break the key service or shift the clock by writing a
 * file, and see what the agent did in actions.log.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "hal_priv.h"
#include "idstore.h"
#include "listenq.h"
#include "log.h"

static bool sim_path(struct hal *hal, const char *rel, char *out)
{
	if (hal_path_join(out, PATH_MAX, hal->root, rel))
		return true;
	hal_set_error(hal, ENAMETOOLONG, "sim path %s under %s", rel, hal->root);
	return false;
}

/* Reads root/<rel>; 0, ENOENT or ENODATA (empty file) or another errno. */
static int sim_read(struct hal *hal, const char *rel, char *buf, size_t size)
{
	char path[PATH_MAX];
	int rc;

	buf[0] = '\0';
	if (!sim_path(hal, rel, path))
		return ENAMETOOLONG;
	rc = fileio_read_line(path, buf, size);
	if (rc)
		buf[0] = '\0';
	return rc;
}

static enum hal_status sim_write(struct hal *hal, const char *rel, const char *text)
{
	char path[PATH_MAX];
	int rc;

	if (!sim_path(hal, rel, path))
		return HAL_ERR_INVALID;
	rc = fileio_write_atomic(path, NULL, text, strlen(text), 0644);
	if (rc) {
		hal_set_error(hal, rc, "cannot write %s", path);
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

static enum hal_status append_action(struct hal *hal, const char *action)
{
	char path[PATH_MAX], line[64];
	int fd, n;
	ssize_t w;

	if (!sim_path(hal, "actions.log", path))
		return HAL_ERR_INVALID;
	n = snprintf(line, sizeof(line), "%s\n", action);
	/* O_NONBLOCK: a FIFO in its place fails (ENXIO) rather than wait for a reader. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		hal_set_error(hal, errno, "cannot open %s", path);
		return HAL_ERR_IO;
	}
	/* One short O_APPEND write: lines from several processes do not interleave. */
	w = write(fd, line, (size_t)n);
	if (w != n) {
		hal_set_error(hal, w < 0 ? errno : EIO, "cannot append to %s", path);
		close(fd);
		return HAL_ERR_IO;
	}
	close(fd);
	return HAL_OK;
}

/* A boot ID shaped like the kernel's (random UUID text). */
static enum hal_status new_boot_id(struct hal *hal)
{
	uint8_t r[16];
	char text[64];
	enum hal_status st = hal_sys_random(hal, r, sizeof(r));

	if (st != HAL_OK)
		return st;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	snprintf(text, sizeof(text),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", r[0],
	         r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	         r[14], r[15]);
	return sim_write(hal, "boot_id", text);
}

static enum hal_status sim_open(struct hal *hal)
{
	char path[PATH_MAX], id[HAL_BOOT_ID];
	int rc;

	if (!hal->root[0]) {
		hal_set_error(hal, 0, "the sim backend needs a root directory");
		return HAL_ERR_INVALID;
	}
	if (!sim_path(hal, "hw", path))
		return HAL_ERR_INVALID;
	rc = fileio_mkdirs(path, 0755);
	if (rc) {
		hal_set_error(hal, rc, "cannot create %s", path);
		return HAL_ERR_IO;
	}
	rc = sim_read(hal, "boot_id", id, sizeof(id));
	if (rc == ENOENT || rc == ENODATA)
		return new_boot_id(hal);
	if (rc) {
		hal_set_error(hal, rc, "cannot read boot_id under %s", hal->root);
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

static void sim_close(struct hal *hal)
{
	(void)hal;
}

static void read_part(struct hal *hal, const char *name, char *out)
{
	char rel[64];
	int rc;

	snprintf(rel, sizeof(rel), "hw/%s", name);
	rc = sim_read(hal, rel, out, HAL_ID_MAX);
	if (rc && rc != ENOENT && rc != ENODATA)
		log_warn("sim: cannot read %s under %s: %s", rel, hal->root, strerror(rc));
	hal_clean_id(out);
}

static enum hal_status sim_read_hwid(struct hal *hal, struct hal_hwid *out)
{
	read_part(hal, "board_serial", out->board_serial);
	read_part(hal, "product_uuid", out->product_uuid);
	read_part(hal, "disk_serial", out->disk_serial);
	read_part(hal, "cpu_id", out->cpu_id);
	read_part(hal, "mac", out->mac);
	return HAL_OK;
}

static enum hal_status sim_boot_id(struct hal *hal, char *buf, size_t size)
{
	int rc = sim_read(hal, "boot_id", buf, size);

	if (rc) {
		hal_set_error(hal, rc, "cannot read boot_id under %s", hal->root);
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

static enum hal_status sim_reboot(struct hal *hal)
{
	char count[32], path[PATH_MAX];
	unsigned long n = 0;
	enum hal_status st;
	int rc;

	st = new_boot_id(hal);
	if (st != HAL_OK)
		return st;
	rc = sim_read(hal, "reboots", count, sizeof(count));
	if (rc == 0)
		n = strtoul(count, NULL, 10);
	snprintf(count, sizeof(count), "%lu\n", n + 1);
	st = sim_write(hal, "reboots", count);
	if (st != HAL_OK)
		return st;
	/* A wedged listen queue is the kind of fault a reboot clears. */
	if (!sim_path(hal, "wedge", path))
		return HAL_ERR_INVALID;
	if (unlink(path) < 0 && errno != ENOENT) {
		hal_set_error(hal, errno, "cannot remove %s", path);
		return HAL_ERR_IO;
	}
	return append_action(hal, "reboot");
}

static enum hal_status sim_service_restart(struct hal *hal)
{
	return append_action(hal, "service_restart");
}

static enum hal_status sim_health_check(struct hal *hal, struct hal_health *out)
{
	char text[sizeof(out->detail)];
	int rc = sim_read(hal, "health", text, sizeof(text));

	if (rc == ENOENT || rc == ENODATA || (rc == 0 && strcmp(text, "ok") == 0)) {
		out->healthy = true;
		snprintf(out->detail, sizeof(out->detail), "ok");
		return HAL_OK;
	}
	if (rc) {
		hal_set_error(hal, rc, "cannot read health under %s", hal->root);
		snprintf(out->detail, sizeof(out->detail), "%.255s", hal->error);
		return HAL_ERR_IO;
	}
	out->healthy = false;
	hal_clean_id(text);
	snprintf(out->detail, sizeof(out->detail), "%s", text);
	return HAL_OK;
}

/* An injected queue (listenq.PORT), or the real socket's: the sim's services are real. */
static enum hal_status sim_listen_queue(struct hal *hal, unsigned port,
                                        struct hal_listen_queue *out)
{
	char rel[32], text[128], err[256];
	unsigned long long q, b, o, d;
	enum hal_status st;

	snprintf(rel, sizeof(rel), "listenq.%u", port);
	if (sim_read(hal, rel, text, sizeof(text)) == 0) {
		if (sscanf(text, "%llu %llu %llu %llu", &q, &b, &o, &d) != 4 || q > UINT32_MAX ||
		    b > UINT32_MAX) {
			hal_set_error(hal, 0,
			              "%s under %s: want \"queued backlog overflows drops\"", rel,
			              hal->root);
			return HAL_ERR_INVALID;
		}
		memset(out, 0, sizeof(*out));
		*out = (struct hal_listen_queue){.port = port,
		                                 .listening = true,
		                                 .queued = (uint32_t)q,
		                                 .backlog = (uint32_t)b,
		                                 .counters = true,
		                                 .overflows = o,
		                                 .drops = d};
		return HAL_OK;
	}
	st = listenq_measure(port, "/proc/net/netstat", out, err, sizeof(err));
	if (st != HAL_OK)
		hal_set_error(hal, 0, "%s", err);
	return st;
}

static bool sim_listener_wedged(struct hal *hal)
{
	char path[PATH_MAX];

	return hal_path_join(path, sizeof(path), hal->root, "wedge") && access(path, F_OK) == 0;
}

static void sim_crash_point(struct hal *hal, const char *point)
{
	char path[PATH_MAX], armed[64];

	if (sim_read(hal, "crash_at", armed, sizeof(armed)) != 0 || strcmp(armed, point) != 0 ||
	    !hal_path_join(path, sizeof(path), hal->root, "crash_at"))
		return;
	unlink(path); /* once */
	log_warn("sim: crash point %s: killing ourselves (SIGKILL)", point);
	raise(SIGKILL);
}

static int64_t sim_time_real(struct hal *hal)
{
	char text[32];
	char *end;
	long long off;
	int64_t now = hal_sys_time_real(hal);

	if (sim_read(hal, "clock_offset", text, sizeof(text)) != 0)
		return now;
	errno = 0;
	off = strtoll(text, &end, 10);
	if (errno || end == text || *end) {
		log_warn("sim: clock_offset under %s is not a number of seconds", hal->root);
		return now;
	}
	return now + (int64_t)off;
}

const struct hal_ops hal_sim_ops = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .read_hwid = sim_read_hwid,
    .boot_id = sim_boot_id,
    .identity_load = idstore_load,
    .identity_store = idstore_store,
    .identity_erase = idstore_erase,
    .reboot = sim_reboot,
    .service_restart = sim_service_restart,
    .health_check = sim_health_check,
    .listener_wedged = sim_listener_wedged,
    .listen_queue = sim_listen_queue,
    .crash_point = sim_crash_point,
    .reboot_reexec = true,
    .time_real = sim_time_real,
    .random = hal_sys_random,
};
