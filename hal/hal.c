#include "hal.h"

#include "mbedcompat.h" /* before any other Mbed TLS header */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "hal_priv.h"
#include "log.h"
#include "vocab.h"

static const struct hal_ops *const backends[] = {&hal_linux_ops, &hal_sim_ops};

const struct hal_ops *hal_backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void hal_set_error(struct hal *hal, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	hal->last_errno = errnum;
	va_start(ap, fmt);
	vsnprintf(hal->error, sizeof(hal->error), fmt, ap);
	va_end(ap);
	n = strlen(hal->error);
	if (errnum && n < sizeof(hal->error))
		snprintf(hal->error + n, sizeof(hal->error) - n, ": %s", strerror(errnum));
}

int hal_sha256(const void *data, size_t len, uint8_t out[HAL_FP_LEN])
{
	return kma_sha256(data, len, out);
}

bool hal_path_join(char *out, size_t size, const char *a, const char *b)
{
	size_t alen = strlen(a);
	int n;

	/* "/" + "/sys/..." must not become "//sys/..." in messages */
	while (alen > 0 && a[alen - 1] == '/')
		alen--;
	while (*b == '/')
		b++;
	n = snprintf(out, size, "%.*s/%s", (int)alen, a, b);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return false;
	}
	return true;
}

void hal_clean_id(char *s)
{
	log_printable(s);
}

enum hal_status hal_sys_random(struct hal *hal, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hal_set_error(hal, errno, "getrandom");
			return HAL_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return HAL_OK;
}

int64_t hal_sys_time_real(struct hal *hal)
{
	struct timespec ts;

	(void)hal;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return (int64_t)time(NULL);
	return (int64_t)ts.tv_sec;
}

enum hal_status hal_open(struct hal *hal, const struct board *board, const char *root,
                         const char *state_dir)
{
	enum hal_status ret = HAL_ERR_INVALID;
	const struct hal_ops *ops;
	struct stat st;
	int rc;

	if (!hal)
		return HAL_ERR_INVALID;
	memset(hal, 0, sizeof(*hal));
	if (!board || !state_dir || !*state_dir) {
		hal_set_error(hal, 0, "hal_open: board and state directory are required");
		goto exit;
	}
	ops = hal_backend_find(board->backend);
	if (!ops) {
		hal_set_error(hal, 0, "board %s: backend '%s' is not in this build", board->name,
		              board->backend);
		goto exit;
	}
	if (snprintf(hal->root, sizeof(hal->root), "%s", root ? root : "") >=
	        (int)sizeof(hal->root) ||
	    snprintf(hal->state_dir, sizeof(hal->state_dir), "%s", state_dir) >=
	        (int)sizeof(hal->state_dir)) {
		hal_set_error(hal, ENAMETOOLONG, "hal_open");
		goto exit;
	}
	hal->board = board;
	hal->ops = ops;
	ret = ops->open(hal);
	if (ret != HAL_OK)
		goto exit;
	/* The record holds the private key: only the agent's user may list the directory. */
	rc = fileio_mkdirs(state_dir, 0700);
	if (rc) {
		hal_set_error(hal, rc, "cannot create state directory %s", state_dir);
		ret = HAL_ERR_IO;
		goto exit;
	}
	/*
	 * An existing directory keeps its mode: it may be shared or set up by packaging, and
	 * the record is 0600 anyway. Say so, since the directory leaks file names and times.
	 * Sticky and open to a group is how privilege separation shares it (hal/privsep.h).
	 */
	if (stat(state_dir, &st) == 0 &&
	    ((st.st_mode & 007) || ((st.st_mode & 070) && !(st.st_mode & S_ISVTX))))
		log_warn("state directory %s is open to other users (mode %03o); 0700 is advised",
		         state_dir, (unsigned)(st.st_mode & 0777));
	ret = HAL_OK;
exit:
	if (ret != HAL_OK && hal->ops) {
		hal->ops->close(hal);
		hal->ops = NULL;
		hal->priv = NULL;
	}
	return ret;
}

void hal_close(struct hal *hal)
{
	if (!hal)
		return;
	if (hal->ops && hal->ops->close)
		hal->ops->close(hal);
	hal->ops = NULL;
	hal->priv = NULL;
}

/*
 * Every wrapper starts with a clean error, so hal->error always explains the last call.
 * HAL_OK when the HAL is open; the caller then checks that the backend has the operation.
 */
static enum hal_status ready(struct hal *hal)
{
	if (!hal)
		return HAL_ERR_INVALID;
	hal->error[0] = '\0';
	hal->last_errno = 0;
	if (!hal->ops) {
		hal_set_error(hal, 0, "HAL not open");
		return HAL_ERR_INVALID;
	}
	return HAL_OK;
}

static enum hal_status unsupported(struct hal *hal, const char *what)
{
	hal_set_error(hal, 0, "backend %s cannot %s", hal->ops->name, what);
	return HAL_ERR_UNSUPPORTED;
}

enum hal_status hal_read_hwid(struct hal *hal, struct hal_hwid *out)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK || !out)
		return st != HAL_OK ? st : HAL_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (!hal->ops->read_hwid)
		return unsupported(hal, "read the hardware identity");
	return hal->ops->read_hwid(hal, out);
}

enum hal_status hal_boot_id(struct hal *hal, char *buf, size_t size)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK || !buf || size == 0)
		return st != HAL_OK ? st : HAL_ERR_INVALID;
	buf[0] = '\0';
	if (!hal->ops->boot_id)
		return unsupported(hal, "read the boot ID");
	return hal->ops->boot_id(hal, buf, size);
}

enum hal_status hal_identity_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                                  struct hal_load_info *info)
{
	struct hal_load_info dummy;
	enum hal_status st;

	if (!out)
		return HAL_ERR_INVALID;
	*out = NULL;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	st = ready(hal);
	if (st != HAL_OK)
		return st;
	if (!hal->ops->identity_load)
		return unsupported(hal, "load an identity");
	return hal->ops->identity_load(hal, out, info);
}

enum hal_status hal_identity_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK || !rec)
		return st != HAL_OK ? st : HAL_ERR_INVALID;
	if (!hal->ops->identity_store)
		return unsupported(hal, "store an identity");
	return hal->ops->identity_store(hal, rec);
}

enum hal_status hal_identity_erase(struct hal *hal)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK)
		return st;
	if (!hal->ops->identity_erase)
		return unsupported(hal, "erase the identity");
	return hal->ops->identity_erase(hal);
}

enum hal_status hal_reboot(struct hal *hal)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK)
		return st;
	if (!hal->ops->reboot)
		return unsupported(hal, "reboot");
	return hal->ops->reboot(hal);
}

enum hal_status hal_service_restart(struct hal *hal)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK)
		return st;
	if (!hal->ops->service_restart)
		return unsupported(hal, "restart the key service");
	return hal->ops->service_restart(hal);
}

enum hal_status hal_health_check(struct hal *hal, struct hal_health *out)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK || !out)
		return st != HAL_OK ? st : HAL_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (!hal->ops->health_check)
		return unsupported(hal, "check the key service");
	return hal->ops->health_check(hal, out);
}

void hal_crash_point(struct hal *hal, const char *point)
{
	if (hal && hal->ops && hal->ops->crash_point)
		hal->ops->crash_point(hal, point);
}

bool hal_listener_wedged(struct hal *hal)
{
	if (!hal || !hal->ops || !hal->ops->listener_wedged)
		return false;
	return hal->ops->listener_wedged(hal);
}

enum hal_status hal_listen_queue(struct hal *hal, unsigned port, struct hal_listen_queue *out)
{
	memset(out, 0, sizeof(*out));
	out->port = port;
	if (!hal || !hal->ops || !hal->ops->listen_queue)
		return unsupported(hal, "measure a listen queue");
	return hal->ops->listen_queue(hal, port, out);
}

bool hal_reboot_reexecs(const struct hal *hal)
{
	return hal && hal->ops && hal->ops->reboot_reexec;
}

int64_t hal_time_real(struct hal *hal)
{
	if (!hal || !hal->ops || !hal->ops->time_real)
		return hal_sys_time_real(hal);
	return hal->ops->time_real(hal);
}

enum hal_status hal_random(struct hal *hal, void *buf, size_t len)
{
	enum hal_status st = ready(hal);

	if (st != HAL_OK || (!buf && len))
		return st != HAL_OK ? st : HAL_ERR_INVALID;
	if (!hal->ops->random)
		return unsupported(hal, "give random bytes");
	return hal->ops->random(hal, buf, len);
}

/* The parts in the fixed order of the fingerprint and of enum kma_part. */
static const char *part(const struct hal_hwid *id, int i)
{
	switch (i) {
	case KMA_PART_BOARD:
		return id->board_serial;
	case KMA_PART_PRODUCT_UUID:
		return id->product_uuid;
	case KMA_PART_DISK:
		return id->disk_serial;
	case KMA_PART_CPU:
		return id->cpu_id;
	default:
		return id->mac;
	}
}

void hal_hwid_fingerprint(const struct hal_hwid *id, uint8_t out[HAL_FP_LEN])
{
	/* Each part as a 4-byte big-endian length and its bytes: no two identities collide
	 * by moving characters between parts. */
	uint8_t buf[(KMA_PART_COUNT - 1) * (4 + HAL_ID_MAX)];
	size_t len = 0;

	for (int i = KMA_PART_BOARD; i < KMA_PART_COUNT; i++) {
		const char *s = part(id, i);
		size_t n = strnlen(s, HAL_ID_MAX);

		buf[len++] = (uint8_t)(n >> 24);
		buf[len++] = (uint8_t)(n >> 16);
		buf[len++] = (uint8_t)(n >> 8);
		buf[len++] = (uint8_t)n;
		memcpy(buf + len, s, n);
		len += n;
	}
	/* Cannot fail in software builds; an all-zero fingerprint never matches a real one. */
	if (hal_sha256(buf, len, out) != 0)
		memset(out, 0, HAL_FP_LEN);
}

unsigned hal_hwid_diff(const struct hal_hwid *a, const struct hal_hwid *b)
{
	unsigned diff = 0;

	for (int i = KMA_PART_BOARD; i < KMA_PART_COUNT; i++)
		if (strncmp(part(a, i), part(b, i), HAL_ID_MAX) != 0)
			diff |= 1u << i;
	return diff;
}

void hal_hwid_to_msg(const struct hal_hwid *id, Kma__V1__HardwareIdentity *msg,
                     uint8_t fp_buf[HAL_FP_LEN])
{
	kma__v1__hardware_identity__init(msg);
	/* Borrowed: the message lives no longer than id (protobuf-c wants char *). */
	msg->board_serial = (char *)id->board_serial;
	msg->product_uuid = (char *)id->product_uuid;
	msg->disk_serial = (char *)id->disk_serial;
	msg->cpu_id = (char *)id->cpu_id;
	msg->mac = (char *)id->mac;
	hal_hwid_fingerprint(id, fp_buf);
	msg->fingerprint.data = fp_buf;
	msg->fingerprint.len = HAL_FP_LEN;
}

static void copy_part(char *dst, const char *src)
{
	snprintf(dst, HAL_ID_MAX, "%s", src ? src : "");
}

void hal_hwid_from_msg(const Kma__V1__HardwareIdentity *msg, struct hal_hwid *id)
{
	memset(id, 0, sizeof(*id));
	if (!msg)
		return;
	copy_part(id->board_serial, msg->board_serial);
	copy_part(id->product_uuid, msg->product_uuid);
	copy_part(id->disk_serial, msg->disk_serial);
	copy_part(id->cpu_id, msg->cpu_id);
	copy_part(id->mac, msg->mac);
}

const char *hal_status_str(enum hal_status st)
{
	switch (st) {
	case HAL_OK:
		return "ok";
	case HAL_ERR_NOT_FOUND:
		return "not found";
	case HAL_ERR_CORRUPT:
		return "corrupt";
	case HAL_ERR_IO:
		return "I/O error";
	case HAL_ERR_UNSUPPORTED:
		return "unsupported";
	case HAL_ERR_INVALID:
		return "invalid argument";
	case HAL_ERR_NOMEM:
		return "out of memory";
	case HAL_ERR_COMMAND:
		return "command failed";
	}
	return "unknown status";
}
