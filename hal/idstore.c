#include "idstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hal_priv.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

enum hal_status idstore_frame(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
{
	enum hal_status ret = HAL_ERR_INVALID;
	size_t total = IDSTORE_HEADER_LEN + len + IDSTORE_TRAILER_LEN;
	uint8_t *buf = NULL;

	*out = NULL;
	*out_len = 0;
	if (len > IDSTORE_MAX - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN)
		goto exit;
	ret = HAL_ERR_NOMEM;
	buf = malloc(total);
	if (!buf)
		goto exit;
	memcpy(buf, IDSTORE_MAGIC, IDSTORE_MAGIC_LEN);
	put_be32(buf + IDSTORE_MAGIC_LEN, (uint32_t)len);
	if (len)
		memcpy(buf + IDSTORE_HEADER_LEN, payload, len);
	ret = HAL_ERR_IO;
	if (hal_sha256(buf, IDSTORE_HEADER_LEN + len, buf + IDSTORE_HEADER_LEN + len) != 0)
		goto exit;
	*out = buf;
	*out_len = total;
	buf = NULL;
	ret = HAL_OK;
exit:
	free(buf);
	return ret;
}

/* NULL when the record is one we may use, else why not. */
static const char *record_problem(const Kma__V1__IdentityRecord *rec)
{
	if (rec->version != IDSTORE_RECORD_VERSION)
		return "unsupported record version";
	if (!rec->node_id || !rec->node_id[0])
		return "record has no node ID";
	return NULL;
}

enum hal_status idstore_decode(const uint8_t *buf, size_t len, Kma__V1__IdentityRecord **out,
                               char *why, size_t why_size)
{
	enum hal_status ret = HAL_ERR_CORRUPT;
	Kma__V1__IdentityRecord *rec = NULL;
	uint8_t sum[HAL_FP_LEN];
	const char *problem;
	uint32_t plen;

	*out = NULL;
	why[0] = '\0';
	if (len < IDSTORE_HEADER_LEN + IDSTORE_TRAILER_LEN) {
		snprintf(why, why_size, "truncated: %zu bytes, shorter than the framing", len);
		goto exit;
	}
	if (memcmp(buf, IDSTORE_MAGIC, IDSTORE_MAGIC_LEN) != 0) {
		snprintf(why, why_size, "bad magic (not an identity record)");
		goto exit;
	}
	plen = get_be32(buf + IDSTORE_MAGIC_LEN);
	if ((size_t)plen != len - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN) {
		snprintf(why, why_size, "%s: header says %u payload bytes, file holds %zu",
		         (size_t)plen > len - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN
		             ? "truncated"
		             : "trailing data",
		         plen, len - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN);
		goto exit;
	}
	if (hal_sha256(buf, IDSTORE_HEADER_LEN + plen, sum) != 0) {
		snprintf(why, why_size, "cannot compute checksum");
		ret = HAL_ERR_IO;
		goto exit;
	}
	if (memcmp(sum, buf + IDSTORE_HEADER_LEN + plen, sizeof(sum)) != 0) {
		snprintf(why, why_size, "checksum mismatch");
		goto exit;
	}
	rec = kma__v1__identity_record__unpack(NULL, plen, buf + IDSTORE_HEADER_LEN);
	if (!rec) {
		snprintf(why, why_size, "payload is not an identity record (protobuf unpack)");
		goto exit;
	}
	problem = record_problem(rec);
	if (problem) {
		snprintf(why, why_size, "%s", problem);
		goto exit;
	}
	*out = rec;
	rec = NULL;
	ret = HAL_OK;
exit:
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	return ret;
}

/*
 * Reads and decodes one file. HAL_ERR_NOT_FOUND when it does not exist, HAL_ERR_IO when it
 * cannot be read (errno in *err), HAL_ERR_CORRUPT when it is not a usable record.
 */
static enum hal_status load_file(const char *path, Kma__V1__IdentityRecord **out, char *why,
                                 size_t why_size, int *err)
{
	enum hal_status ret = HAL_ERR_IO;
	unsigned char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	*err = 0;
	rc = fileio_read(path, IDSTORE_MAX, &data, &len);
	if (rc == ENOENT) {
		snprintf(why, why_size, "missing");
		ret = HAL_ERR_NOT_FOUND;
		goto exit;
	}
	if (rc == EFBIG) {
		snprintf(why, why_size, "larger than %d bytes", IDSTORE_MAX);
		ret = HAL_ERR_CORRUPT;
		goto exit;
	}
	if (rc == EINVAL || rc == ELOOP) {
		/*
		 * Only the agent writes here, and only regular files: a FIFO, device, directory or
		 * link in its place was put there by someone else (the network side, under
		 * privilege separation). It is refused, never opened further, never waited on.
		 */
		snprintf(why, why_size, "not a regular file (%s)",
		         rc == ELOOP ? "a symbolic link" : "a FIFO, device, socket or directory");
		ret = HAL_ERR_CORRUPT;
		goto exit;
	}
	if (rc) {
		snprintf(why, why_size, "cannot read: %s", strerror(rc));
		*err = rc;
		goto exit;
	}
	ret = idstore_decode(data, len, out, why, why_size);
exit:
	free(data);
	return ret;
}

static bool paths(struct hal *hal, char *cur, char *prev, char *tmp)
{
	if (hal_path_join(cur, PATH_MAX, hal->state_dir, IDSTORE_FILE) &&
	    hal_path_join(prev, PATH_MAX, hal->state_dir, IDSTORE_BACKUP) &&
	    (!tmp || hal_path_join(tmp, PATH_MAX, hal->state_dir, IDSTORE_TEMP)))
		return true;
	hal_set_error(hal, ENAMETOOLONG, "identity record path in %s", hal->state_dir);
	return false;
}

enum hal_status idstore_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                             struct hal_load_info *info)
{
	enum hal_status ret = HAL_ERR_INVALID;
	enum hal_status st_cur, st_prev;
	char cur[PATH_MAX], prev[PATH_MAX];
	char why_cur[160], why_prev[160];
	int err_cur, err_prev;
	Kma__V1__IdentityRecord *rec = NULL;

	*out = NULL;
	if (!paths(hal, cur, prev, NULL))
		goto exit;
	st_cur = load_file(cur, &rec, why_cur, sizeof(why_cur), &err_cur);
	if (st_cur == HAL_OK) {
		ret = HAL_OK;
		goto exit;
	}
	/*
	 * An unreadable file (EACCES, EIO) is not evidence that it is bad: report it rather
	 * than quietly going back to an older identity.
	 */
	if (st_cur == HAL_ERR_IO) {
		hal_set_error(hal, err_cur, "cannot read identity record %s", cur);
		ret = HAL_ERR_IO;
		goto exit;
	}
	st_prev = load_file(prev, &rec, why_prev, sizeof(why_prev), &err_prev);
	if (st_prev == HAL_OK) {
		info->from_backup = true;
		snprintf(info->detail, sizeof(info->detail), "%s: %s; loaded %s instead",
		         IDSTORE_FILE, why_cur, IDSTORE_BACKUP);
		ret = HAL_OK;
		goto exit;
	}
	if (st_cur == HAL_ERR_NOT_FOUND && st_prev == HAL_ERR_NOT_FOUND) {
		hal_set_error(hal, 0, "no identity record in %s", hal->state_dir);
		ret = HAL_ERR_NOT_FOUND;
		goto exit;
	}
	hal_set_error(hal, 0, "identity record in %s unusable: %s: %s; %s: %s", hal->state_dir,
	              IDSTORE_FILE, why_cur, IDSTORE_BACKUP, why_prev);
	hal->last_errno = err_prev;
	/* Only a missing record with an unreadable backup is not known to be corrupt. */
	ret = st_cur == HAL_ERR_NOT_FOUND && st_prev == HAL_ERR_IO ? HAL_ERR_IO : HAL_ERR_CORRUPT;
exit:
	if (ret == HAL_OK)
		*out = rec;
	else if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	return ret;
}

/* How long a writer waits for another to finish (each holds the lock for a few fsyncs). */
#define WRITE_LOCK_WAIT_MS 10000

/*
 * Writers of the record (the daemon, its privileged helper, kma-agent quickstart or
 * identity import run beside it) take turns: an exclusive flock on the state directory.
 * Two at once shared the temp file (one's rename failed: ENOENT), or the one that read
 * first wrote last, undoing a QuickStart. Never blocking: under privilege separation the
 * network side can open the directory and hold a lock of its own, and it must not wedge
 * the helper; after WRITE_LOCK_WAIT_MS the write fails (EWOULDBLOCK) and is reported.
 * Returns the locked descriptor (close it to unlock) or -1 with hal's error set.
 */
static int write_lock(struct hal *hal)
{
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	int fd = open(hal->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		hal_set_error(hal, errno, "cannot open the state directory %s", hal->state_dir);
		return -1;
	}
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 10) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= WRITE_LOCK_WAIT_MS) {
			hal_set_error(hal, errno, "identity record in %s: another writer holds it",
			              hal->state_dir);
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

enum hal_status idstore_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
{
	enum hal_status ret = HAL_ERR_INVALID;
	char cur[PATH_MAX], prev[PATH_MAX], why[160];
	uint8_t *payload = NULL, *framed = NULL;
	size_t plen, flen = 0;
	Kma__V1__IdentityRecord *old = NULL;
	const char *problem = record_problem(rec);
	int err, rc, lock = -1;

	if (problem) {
		hal_set_error(hal, 0, "refusing to store identity record: %s", problem);
		goto exit;
	}
	if (!paths(hal, cur, prev, NULL))
		goto exit;
	plen = kma__v1__identity_record__get_packed_size(rec);
	if (plen > IDSTORE_MAX - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN) {
		hal_set_error(hal, 0, "identity record of %zu bytes is larger than %d", plen,
		              IDSTORE_MAX);
		goto exit;
	}
	ret = HAL_ERR_NOMEM;
	payload = malloc(plen ? plen : 1);
	if (!payload)
		goto exit;
	kma__v1__identity_record__pack(rec, payload);
	ret = idstore_frame(payload, plen, &framed, &flen);
	if (ret != HAL_OK) {
		hal_set_error(hal, 0, "cannot frame identity record");
		goto exit;
	}
	lock = write_lock(hal);
	if (lock < 0) {
		ret = HAL_ERR_IO;
		goto exit;
	}
	/*
	 * The backup is the record being replaced. When that one is damaged, keep the
	 * backup there is: it may be the only good record left.
	 */
	ret = load_file(cur, &old, why, sizeof(why), &err);
	/*
	 * A record of an older QuickStart generation than the one there was read before
	 * someone stored a new identity (kma-agent quickstart beside the daemon): writing it
	 * would undo that QuickStart.
	 */
	if (ret == HAL_OK && old->generation > rec->generation) {
		hal_set_error(hal, 0,
		              "refusing to store identity record: generation %u is older than the "
		              "stored generation %u (a new identity was stored meanwhile)",
		              rec->generation, old->generation);
		ret = HAL_ERR_INVALID;
		goto exit;
	}
	rc = fileio_write_atomic(cur, ret == HAL_OK ? prev : NULL, framed, flen, 0600);
	if (rc) {
		hal_set_error(hal, rc, "cannot write identity record %s", cur);
		ret = HAL_ERR_IO;
		goto exit;
	}
	ret = HAL_OK;
exit:
	if (lock >= 0)
		close(lock);
	if (old)
		kma__v1__identity_record__free_unpacked(old, NULL);
	if (payload)
		memset(payload, 0, plen); /* holds the private key */
	if (framed)
		memset(framed, 0, flen);
	free(payload);
	free(framed);
	return ret;
}

static enum hal_status remove_file(struct hal *hal, const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		hal_set_error(hal, errno, "cannot remove %s", path);
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

enum hal_status idstore_erase(struct hal *hal)
{
	enum hal_status ret = HAL_ERR_INVALID;
	char cur[PATH_MAX], prev[PATH_MAX], tmp[PATH_MAX];
	int rc, lock = -1;

	if (!paths(hal, cur, prev, tmp))
		goto exit;
	lock = write_lock(hal);
	if (lock < 0) {
		ret = HAL_ERR_IO;
		goto exit;
	}
	/*
	 * Backup and temp file first, made durable, then the record: a crash in between
	 * leaves the old identity or none, never a backup that load would bring back.
	 */
	ret = remove_file(hal, prev);
	if (ret == HAL_OK)
		ret = remove_file(hal, tmp);
	if (ret != HAL_OK)
		goto exit;
	rc = fileio_sync_dir(cur);
	if (rc == 0) {
		ret = remove_file(hal, cur);
		if (ret != HAL_OK)
			goto exit;
		rc = fileio_sync_dir(cur);
	}
	if (rc) {
		hal_set_error(hal, rc, "cannot sync %s", hal->state_dir);
		ret = HAL_ERR_IO;
		goto exit;
	}
	ret = HAL_OK;
exit:
	if (lock >= 0)
		close(lock);
	return ret;
}
