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

static int read_file(const char *path, int oflags, size_t max, unsigned char **out, size_t *out_len)
{
	int ret = EIO;
	int fd = -1;
	unsigned char *buf = NULL;
	struct stat st;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | oflags);
	if (fd < 0) {
		ret = errno;
		goto exit;
	}
	if (fstat(fd, &st) < 0) {
		ret = errno;
		goto exit;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = EINVAL;
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
	FILE *f = fopen(path, "re");
	size_t start = 0, end;

	if (!f)
		return errno;
	if (!fgets(buf, (int)size, f)) {
		int err = ferror(f) ? EIO : ENODATA;

		fclose(f);
		buf[0] = '\0';
		return err;
	}
	fclose(f);
	end = strlen(buf);
	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' ' ||
	                   buf[end - 1] == '\t' || buf[end - 1] == '\0'))
		end--;
	while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	memmove(buf, buf + start, end - start);
	buf[end - start] = '\0';
	return buf[0] ? 0 : ENODATA;
}
