/*
 * The linux backend: hardware identity from sysfs, procfs and the device tree, actions
 * through the board's commands. Every path is under hal->root ("/" on an appliance, a fake
 * tree in tests). A part whose source is missing or unreadable is empty, not an error: the
 * fingerprint then simply records that the part could not be seen.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hal_cmd.h"
#include "hal_priv.h"
#include "listenq.h"
#include "idstore.h"
#include "log.h"

#define REBOOT_TIMEOUT_S  60
#define RESTART_TIMEOUT_S 120
#define HEALTH_TIMEOUT_S  15

/* Reads "<root>/<rel>" as one trimmed line into out (HAL_ID_MAX); empty when it cannot. */
static bool read_attr(struct hal *hal, const char *rel, char *out)
{
	char path[PATH_MAX];
	int rc;

	out[0] = '\0';
	if (!hal_path_join(path, sizeof(path), hal->root, rel))
		return false;
	rc = fileio_read_line(path, out, HAL_ID_MAX);
	if (rc) {
		/* Missing is normal (no such part); anything else is worth knowing about. */
		if (rc != ENOENT && rc != ENODATA && rc != ENOTDIR)
			log_warn("hardware identity: cannot read %s: %s", path,
			         fileio_strerror(rc));
		out[0] = '\0';
		return false;
	}
	hal_clean_id(out);
	return out[0] != '\0';
}

static bool exists(struct hal *hal, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	return hal_path_join(path, sizeof(path), hal->root, rel) && stat(path, &st) == 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	/* Not alphasort: its order depends on the locale, and the choice must not. */
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int no_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Directory entries of <root>/<rel> in byte order; the caller frees with free_list. */
static int list_dir(struct hal *hal, const char *rel, struct dirent ***list)
{
	char path[PATH_MAX];
	int n;

	*list = NULL;
	if (!hal_path_join(path, sizeof(path), hal->root, rel))
		return 0;
	n = scandir(path, list, no_dots, name_cmp);
	return n < 0 ? 0 : n;
}

static void free_list(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/*
 * SCSI and SATA disks show their serial only in the unit serial number VPD page
 * (byte 1 = 0x80, bytes 2-3 = length, then ASCII padded with spaces). Binary sysfs
 * attributes report size 0, so read it with read(2) rather than by size.
 */
static bool read_vpd80(struct hal *hal, const char *rel, char *out)
{
	char path[PATH_MAX];
	unsigned char buf[4 + 255];
	ssize_t n = 0, got = 0;
	size_t len, start, end;
	int fd;

	out[0] = '\0';
	if (!hal_path_join(path, sizeof(path), hal->root, rel))
		return false;
	if (fileio_open_regular(path, 0, &fd) != 0)
		return false;
	while ((size_t)got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	if (got < 4 || buf[1] != 0x80)
		return false;
	len = (size_t)buf[2] << 8 | buf[3];
	if (len > (size_t)got - 4)
		len = (size_t)got - 4;
	start = 4;
	end = 4 + len;
	while (start < end && (buf[start] == ' ' || buf[start] == '\0'))
		start++;
	while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\0'))
		end--;
	if (end - start >= HAL_ID_MAX)
		end = start + HAL_ID_MAX - 1;
	memcpy(out, buf + start, end - start);
	out[end - start] = '\0';
	hal_clean_id(out);
	return out[0] != '\0';
}

static bool block_serial(struct hal *hal, const char *dev, char *out)
{
	static const char *const where[] = {"device/serial", "serial"};
	char rel[PATH_MAX];

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		snprintf(rel, sizeof(rel), "sys/block/%s/%s", dev, where[i]);
		if (read_attr(hal, rel, out))
			return true;
	}
	snprintf(rel, sizeof(rel), "sys/block/%s/device/vpd_pg80", dev);
	return read_vpd80(hal, rel, out);
}

/* Devices that are not the appliance's own disk: memory, mappings, optical, network. */
static bool block_virtual(struct hal *hal, const char *dev)
{
	static const char *const prefixes[] = {"loop", "ram", "zram", "dm-", "sr",
	                                       "md",   "nbd", "fd",   "zd"};
	char rel[PATH_MAX], removable[HAL_ID_MAX];

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(dev, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	/* A USB stick plugged in for maintenance must not change the identity. */
	snprintf(rel, sizeof(rel), "sys/block/%s/removable", dev);
	return read_attr(hal, rel, removable) && strcmp(removable, "1") == 0;
}

static void block_auto(struct hal *hal, char *out)
{
	struct dirent **list;
	int n = list_dir(hal, "sys/block", &list);

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		if (!block_virtual(hal, list[i]->d_name) && block_serial(hal, list[i]->d_name, out))
			break;
	free_list(list, n);
}

/* cpuinfo of a 4096-CPU machine is a few MB; the first processor comes first. */
#define CPUINFO_READ_MAX (1024 * 1024)

/* First "<field> : value" line of <root>/proc/cpuinfo (first processor). */
static bool cpuinfo_field(struct hal *hal, const char *field, char *out)
{
	char path[PATH_MAX];
	char line[4096];
	size_t total = 0;      /* bytes read so far */
	bool skipping = false; /* the rest of a line longer than line[] */
	int fd;
	FILE *f;
	bool found = false;

	out[0] = '\0';
	if (!hal_path_join(path, sizeof(path), hal->root, "proc/cpuinfo"))
		return false;
	/* procfs files have size 0: read them line by line, never by size, and only so far. */
	if (fileio_open_regular(path, 0, &fd) != 0)
		return false;
	f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return false;
	}
	while (!found && total < CPUINFO_READ_MAX && fgets(line, sizeof(line), f)) {
		off_t pos = ftello(f);
		size_t len = strlen(line);
		bool whole = len > 0 && line[len - 1] == '\n';
		bool was_skipping = skipping;
		char *colon, *key_end, *val;
		size_t vlen;

		total = pos > 0 ? (size_t)pos : CPUINFO_READ_MAX;
		skipping = !whole;
		if (was_skipping)
			continue;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		key_end = colon;
		while (key_end > line && (key_end[-1] == ' ' || key_end[-1] == '\t'))
			key_end--;
		if ((size_t)(key_end - line) != strlen(field) ||
		    strncmp(line, field, (size_t)(key_end - line)) != 0)
			continue;
		val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		vlen = strcspn(val, "\r\n");
		while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
			vlen--;
		snprintf(out, HAL_ID_MAX, "%.*s", (int)vlen, val);
		hal_clean_id(out);
		found = true;
	}
	fclose(f);
	return found && out[0];
}

static bool all_zero(const char *s)
{
	for (; *s; s++)
		if (*s != '0')
			return false;
	return true;
}

/*
 * ARM SoCs with fused serials print "Serial"; x86 CPUs have no readable serial (the
 * processor serial number was removed after the Pentium III), so the model name stands in;
 * other ARM kernels give only the implementer and part numbers.
 */
static void cpuinfo_auto(struct hal *hal, char *out)
{
	char impl[HAL_ID_MAX], partno[HAL_ID_MAX];

	if (cpuinfo_field(hal, "Serial", out) && !all_zero(out))
		return;
	if (cpuinfo_field(hal, "model name", out))
		return;
	if (cpuinfo_field(hal, "CPU implementer", impl) && cpuinfo_field(hal, "CPU part", partno)) {
		snprintf(out, HAL_ID_MAX, "%.60s:%.60s", impl, partno);
		return;
	}
	out[0] = '\0';
}

static bool net_address(struct hal *hal, const char *iface, char *out)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/class/net/%s/address", iface);
	if (!read_attr(hal, rel, out) || strcmp(out, "00:00:00:00:00:00") == 0) {
		out[0] = '\0';
		return false;
	}
	return true;
}

/* Physical NICs have a "device" link; lo, bridges, veth, tun and bonds do not. */
static void net_auto(struct hal *hal, char *out)
{
	struct dirent **list;
	int n = list_dir(hal, "sys/class/net", &list);
	char rel[PATH_MAX];

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *iface = list[i]->d_name;

		if (strcmp(iface, "lo") == 0)
			continue;
		snprintf(rel, sizeof(rel), "sys/class/net/%s/device", iface);
		if (exists(hal, rel) && net_address(hal, iface, out))
			break;
	}
	free_list(list, n);
}

/* Reads one part from its board source ("kind:argument", syntax checked by board.c). */
static void read_source(struct hal *hal, const char *src, char *out)
{
	const char *arg = strchr(src, ':');
	char rel[PATH_MAX];
	size_t kind_len;

	out[0] = '\0';
	if (!arg)
		return; /* "none", or empty */
	kind_len = (size_t)(arg - src);
	arg++;
#define KIND(k) (kind_len == strlen(k) && strncmp(src, k, kind_len) == 0)
	if (KIND("dmi")) {
		snprintf(rel, sizeof(rel), "sys/class/dmi/id/%s", arg);
		read_attr(hal, rel, out);
	} else if (KIND("devicetree")) {
		/* /proc/device-tree is a link to here; either may be missing in a container. */
		snprintf(rel, sizeof(rel), "proc/device-tree/%s", arg);
		if (!read_attr(hal, rel, out)) {
			snprintf(rel, sizeof(rel), "sys/firmware/devicetree/base/%s", arg);
			read_attr(hal, rel, out);
		}
	} else if (KIND("block")) {
		if (strcmp(arg, "auto") == 0)
			block_auto(hal, out);
		else
			block_serial(hal, arg, out);
	} else if (KIND("cpuinfo")) {
		if (strcmp(arg, "auto") == 0)
			cpuinfo_auto(hal, out);
		else
			cpuinfo_field(hal, arg, out);
	} else if (KIND("net")) {
		if (strcmp(arg, "auto") == 0)
			net_auto(hal, out);
		else
			net_address(hal, arg, out);
	} else if (KIND("file")) {
		read_attr(hal, arg, out);
	}
#undef KIND
}

static enum hal_status linux_open(struct hal *hal)
{
	struct stat st;

	if (!hal->root[0])
		snprintf(hal->root, sizeof(hal->root), "/");
	if (stat(hal->root, &st) < 0) {
		hal_set_error(hal, errno, "root %s", hal->root);
		return HAL_ERR_INVALID;
	}
	if (!S_ISDIR(st.st_mode)) {
		hal_set_error(hal, ENOTDIR, "root %s", hal->root);
		return HAL_ERR_INVALID;
	}
	return HAL_OK;
}

static void linux_close(struct hal *hal)
{
	(void)hal;
}

static enum hal_status linux_read_hwid(struct hal *hal, struct hal_hwid *out)
{
	const struct board_sources *s = &hal->board->sources;

	read_source(hal, s->board_serial, out->board_serial);
	read_source(hal, s->product_uuid, out->product_uuid);
	read_source(hal, s->disk_serial, out->disk_serial);
	read_source(hal, s->cpu_id, out->cpu_id);
	read_source(hal, s->mac, out->mac);
	return HAL_OK;
}

static enum hal_status linux_boot_id(struct hal *hal, char *buf, size_t size)
{
	char path[PATH_MAX];
	int rc;

	if (!hal_path_join(path, sizeof(path), hal->root, "proc/sys/kernel/random/boot_id")) {
		hal_set_error(hal, ENAMETOOLONG, "boot ID path under %s", hal->root);
		return HAL_ERR_INVALID;
	}
	rc = fileio_read_line(path, buf, size);
	if (rc) {
		buf[0] = '\0';
		hal_set_error(hal, rc, "cannot read boot ID %s", path);
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

/* Runs one of the board's action commands; HAL_OK only when it exited with status 0. */
static enum hal_status run_action(struct hal *hal, const char *what, const char *cmd,
                                  unsigned timeout_s)
{
	struct hal_cmd_result res;
	char how[400];
	enum hal_status st;

	if (!cmd[0]) {
		hal_set_error(hal, 0, "board %s has no %s command", hal->board->name, what);
		return HAL_ERR_UNSUPPORTED;
	}
	st = hal_cmd_run(hal, cmd, timeout_s, &res);
	if (st != HAL_OK)
		return st;
	if (res.exit_code == 0 && !res.timed_out)
		return HAL_OK;
	hal_cmd_describe(&res, timeout_s, how, sizeof(how));
	hal_set_error(hal, 0, "%s command '%s' %s", what, cmd, how);
	return HAL_ERR_COMMAND;
}

static enum hal_status linux_reboot(struct hal *hal)
{
	return run_action(hal, "reboot", hal->board->actions.reboot, REBOOT_TIMEOUT_S);
}

static enum hal_status linux_service_restart(struct hal *hal)
{
	return run_action(hal, "service_restart", hal->board->actions.service_restart,
	                  RESTART_TIMEOUT_S);
}

static enum hal_status linux_health_check(struct hal *hal, struct hal_health *out)
{
	const char *cmd = hal->board->actions.health_check;
	struct hal_cmd_result res;
	enum hal_status st;

	out->healthy = false;
	if (!cmd[0]) {
		hal_set_error(hal, 0, "board %s has no health_check command", hal->board->name);
		snprintf(out->detail, sizeof(out->detail), "no health check on this board");
		return HAL_ERR_UNSUPPORTED;
	}
	/* A check that cannot run says nothing about the service: an error, not "unhealthy". */
	st = hal_cmd_run(hal, cmd, HEALTH_TIMEOUT_S, &res);
	if (st != HAL_OK) {
		snprintf(out->detail, sizeof(out->detail), "%.255s", hal->error);
		return st;
	}
	out->healthy = res.exit_code == 0 && !res.timed_out;
	hal_cmd_describe(&res, HEALTH_TIMEOUT_S, out->detail, sizeof(out->detail));
	return HAL_OK;
}

static enum hal_status linux_listen_queue(struct hal *hal, unsigned port,
                                          struct hal_listen_queue *out)
{
	char path[PATH_MAX], err[256];
	enum hal_status st;

	if (!hal_path_join(path, sizeof(path), hal->root, "proc/net/netstat")) {
		hal_set_error(hal, ENAMETOOLONG, "proc/net/netstat under %s", hal->root);
		return HAL_ERR_INVALID;
	}
	st = listenq_measure(port, path, out, err, sizeof(err));
	if (st != HAL_OK)
		hal_set_error(hal, 0, "%s", err);
	return st;
}

const struct hal_ops hal_linux_ops = {
    .name = "linux",
    .open = linux_open,
    .close = linux_close,
    .read_hwid = linux_read_hwid,
    .boot_id = linux_boot_id,
    .identity_load = idstore_load,
    .identity_store = idstore_store,
    .identity_erase = idstore_erase,
    .reboot = linux_reboot,
    .service_restart = linux_service_restart,
    .health_check = linux_health_check,
    .listen_queue = linux_listen_queue,
    .time_real = hal_sys_time_real,
    .random = hal_sys_random,
};
