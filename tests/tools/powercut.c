/*
 * libpowercut.so: an LD_PRELOAD shim that lets a test cut the power under a program.
 *
 * Every file whose path starts with $POWERCUT_PREFIX (e.g. the coordinator's database,
 * its -wal and -shm) is followed from open to close. When the program syncs one
 * (fsync, fdatasync), the file's whole content at that moment is copied to
 * "<path>.durable" (temp file and rename, so a kill during the copy leaves the previous
 * copy). What the disk would hold after a power cut is then exactly those copies: the
 * test kills the program with SIGKILL, puts every .durable copy in place of its file and
 * removes the files that were never synced (tests/e2e/coord_crash.py). Writes that were
 * not synced are lost whole: no torn sectors, no reordering before a sync. Creating and
 * removing files is taken as durable at once (directory syncs are not modelled).
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 4096

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static const char *prefix;
static size_t prefix_len;
static char *followed[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* table and copies */

__attribute__((constructor)) static void init(void)
{
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_unlink = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	prefix = getenv("POWERCUT_PREFIX");
	prefix_len = prefix ? strlen(prefix) : 0;
}

static void follow(int fd, const char *path)
{
	if (fd < 0 || fd >= MAX_FD || !prefix_len || strncmp(path, prefix, prefix_len) != 0)
		return;
	pthread_mutex_lock(&lock);
	free(followed[fd]);
	followed[fd] = strdup(path);
	pthread_mutex_unlock(&lock);
}

/* Copies the file behind fd to <path>.durable, atomically (called with lock held). */
static void snapshot(int fd)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	char buf[65536];
	struct stat st;
	off_t off = 0;
	ssize_t n;
	int out;

	if (fd < 0 || fd >= MAX_FD || !followed[fd] || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	snprintf(dst, sizeof(dst), "%s.durable", followed[fd]);
	snprintf(tmp, sizeof(tmp), "%s.durable.tmp", followed[fd]);
	out = real_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		abort(); /* a test that cannot model the disk must not pass */
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (write(out, buf, (size_t)n) != n)
			abort();
		off += n;
	}
	if (n < 0 || real_close(out) < 0 || rename(tmp, dst) < 0)
		abort();
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = dirfd == AT_FDCWD ? real_open(path, flags, mode)
	                           : real_openat(dirfd, path, flags, mode);

	if (dirfd == AT_FDCWD || path[0] == '/')
		follow(fd, path);
	return fd;
}

/* The mode argument is there only when the file may be created. */
#define MODE_ARG(flags, mode)                                                                      \
	do {                                                                                       \
		va_list ap;                                                                        \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                                             \
			va_start(ap, flags);                                                       \
			mode = va_arg(ap, mode_t);                                                 \
			va_end(ap);                                                                \
		}                                                                                  \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_open(dirfd, path, flags, mode);
}

/*
 * A removal is taken as durable (SQLite syncs the directory after removing a journal): the
 * copy goes too, or the cut would bring back a journal that was already committed.
 */
int unlink(const char *path)
{
	char copy[PATH_MAX];
	int ret = real_unlink(path);

	if (ret == 0 && prefix_len && strncmp(path, prefix, prefix_len) == 0) {
		snprintf(copy, sizeof(copy), "%s.durable", path);
		pthread_mutex_lock(&lock);
		real_unlink(copy);
		pthread_mutex_unlock(&lock);
	}
	return ret;
}

int close(int fd)
{
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&lock);
		free(followed[fd]);
		followed[fd] = NULL;
		pthread_mutex_unlock(&lock);
	}
	return real_close(fd);
}

/* After fsync or fdatasync returned ret for fd: a success makes what fd holds durable. */
static int synced(int fd, int ret)
{
	if (ret == 0) {
		pthread_mutex_lock(&lock);
		snapshot(fd);
		pthread_mutex_unlock(&lock);
	}
	return ret;
}

int fsync(int fd)
{
	return synced(fd, real_fsync(fd));
}

int fdatasync(int fd)
{
	return synced(fd, real_fdatasync(fd));
}
