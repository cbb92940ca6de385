#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int (*fileio_crash_hook)(enum fileio_point point);

static int crash_at(enum fileio_point point)
{
	return fileio_crash_hook && fileio_crash_hook(point);
}

int fileio_open_regular(const char *path, int oflags, int *fd_out)
{
	int fd, ret;
	struct stat st;

	*fd_out = -1;
	/*
	 * O_NONBLOCK: opening a FIFO for reading waits for a writer, forever when there is
	 * none; a file planted in a shared state directory must not wedge whoever reads it.
	 * It changes nothing for a regular file, the only kind read further.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | oflags);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0) {
		ret = errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return EINVAL;
	}
	*fd_out = fd;
	return 0;
}

const char *fileio_strerror(int e)
{
	if (e == EINVAL)
		return "not a regular file (a FIFO, device, socket or directory)";
	if (e == ELOOP)
		return "a symbolic link (refused)";
	return strerror(e);
}

static int read_file(const char *path, int oflags, size_t max, unsigned char **out, size_t *out_len)
{
	int ret = EIO;
	int fd = -1;
	unsigned char *buf = NULL;
	struct stat st;
	size_t len = 0;

	ret = fileio_open_regular(path, oflags, &fd);
	if (ret)
		goto exit;
	if (fstat(fd, &st) < 0) {
		ret = errno;
		goto exit;
	}
	if ((size_t)st.st_size > max) {
		ret = EFBIG;
		goto exit;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = ENOMEM;
		goto exit;
	}
	/* Never more than the size fstat gave: a file that grows is read as it was. */
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno;
			goto exit;
		}
		if (n == 0)
			break; /* shrank under us: return what is there */
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
exit:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

int fileio_read(const char *path, size_t max, unsigned char **out, size_t *out_len)
{
	return read_file(path, O_NOFOLLOW, max, out, out_len);
}

int fileio_read_input(const char *path, size_t max, unsigned char **out, size_t *out_len)
{
	return read_file(path, 0, max, out, out_len);
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fsync(fd) < 0)
		ret = errno;
	close(fd);
	return ret;
}

int fileio_write_atomic(const char *path, const char *backup, const void *data, size_t len,
                        mode_t mode)
{
	int ret = EIO;
	int fd = -1;
	char tmp[PATH_MAX];
	const unsigned char *p = data;

	if (snprintf(tmp, sizeof(tmp), "%s" FILEIO_TEMP_SUFFIX, path) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	if (crash_at(FILEIO_POINT_OPEN_TMP))
		return EINTR;
	/*
	 * A stale temp file from an earlier crash is removed and a new one created: in a
	 * directory shared with a less privileged process (hal/privsep.h), whatever that one
	 * put under the temp name (a link, a file it keeps open) is never written through.
	 */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		ret = errno;
		goto exit;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		ret = errno;
		goto exit;
	}
	if (fchmod(fd, mode) < 0) { /* the umask or an old file must not widen it */
		ret = errno;
		goto exit;
	}
	ret = write_all(fd, p, len / 2);
	if (ret)
		goto exit;
	if (crash_at(FILEIO_POINT_WRITE)) {
		ret = EINTR;
		goto exit;
	}
	ret = write_all(fd, p + len / 2, len - len / 2);
	if (ret)
		goto exit;
	if (crash_at(FILEIO_POINT_FSYNC)) {
		ret = EINTR;
		goto exit;
	}
	if (fsync(fd) < 0) {
		ret = errno;
		goto exit;
	}
	close(fd);
	fd = -1;
	if (backup) {
		if (crash_at(FILEIO_POINT_BACKUP))
			return EINTR;
		if (unlink(backup) < 0 && errno != ENOENT) {
			ret = errno;
			goto exit;
		}
		if (link(path, backup) < 0 && errno != ENOENT) {
			ret = errno;
			goto exit;
		}
	}
	if (crash_at(FILEIO_POINT_RENAME))
		return EINTR;
	if (rename(tmp, path) < 0) {
		ret = errno;
		goto exit;
	}
	if (crash_at(FILEIO_POINT_DIRSYNC))
		return EINTR;
	ret = fileio_sync_dir(path);
exit:
	if (fd >= 0)
		close(fd);
	return ret;
}

int fileio_mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return len ? ENAMETOOLONG : EINVAL;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return errno;
	return 0;
}

int fileio_read_line(const char *path, char *buf, size_t size)
{
	size_t start = 0, end = 0;
	int fd, ret;

	if (size < 2)
		return EINVAL;
	buf[0] = '\0';
	ret = fileio_open_regular(path, 0, &fd);
	if (ret)
		return ret;
	/* At most size - 1 bytes, whatever the file holds: sysfs and procfs give no size. */
	while (end < size - 1 && !memchr(buf, '\n', end)) {
		ssize_t n = read(fd, buf + end, size - 1 - end);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno;
			close(fd);
			buf[0] = '\0';
			return ret;
		}
		if (n == 0)
			break;
		end += (size_t)n;
	}
	close(fd);
	buf[end] = '\0';
	end = strcspn(buf, "\n"); /* the first line; a NUL ends it too */
	end = strnlen(buf, end);
	while (end > 0 && (buf[end - 1] == '\r' || buf[end - 1] == ' ' || buf[end - 1] == '\t'))
		end--;
	while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	memmove(buf, buf + start, end - start);
	buf[end - start] = '\0';
	return buf[0] ? 0 : ENODATA;
}
