#ifndef KMA_FILEIO_H
#define KMA_FILEIO_H

/*
 * Small-file I/O with the durability the identity store and state files need.
 * Functions return 0 on success or a positive errno value; errno itself is left alone.
 */

#include <stddef.h>
#include <sys/types.h>

/* Points where fileio_write_atomic can be interrupted by a test ("crash" there). */
enum fileio_point {
	FILEIO_POINT_OPEN_TMP,
	FILEIO_POINT_WRITE,   /* after half of the data was written */
	FILEIO_POINT_FSYNC,   /* data written, before fsync of the temp file */
	FILEIO_POINT_BACKUP,  /* before the previous file is linked to the backup name */
	FILEIO_POINT_RENAME,  /* before rename over the destination */
	FILEIO_POINT_DIRSYNC, /* renamed, before fsync of the directory */
	FILEIO_POINT_COUNT
};

/*
 * Test seam: when set, called at each point; a nonzero return makes the write stop there
 * as if the process had died (nothing is cleaned up) and return EINTR.
 */
extern int (*fileio_crash_hook)(enum fileio_point point);

/*
 * Opens path for reading (O_RDONLY | O_CLOEXEC | O_NONBLOCK plus oflags, e.g. O_NOFOLLOW)
 * and keeps it only when it is a regular file: a FIFO, device, socket or directory is
 * refused with EINVAL without ever blocking (a FIFO with no writer would block a plain
 * open forever), a symbolic link with ELOOP under O_NOFOLLOW. On success *fd is the
 * caller's to close. Every read below goes through it.
 */
int fileio_open_regular(const char *path, int oflags, int *fd) __attribute__((warn_unused_result));

/*
 * Reads a whole regular file, not through a symbolic link, of at most max bytes into a
 * new NUL-terminated buffer the caller frees. EFBIG when larger than max; EINVAL when not
 * a regular file; ELOOP when a symbolic link.
 */
int fileio_read(const char *path, size_t max, unsigned char **out, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * The same for files an operator or an image points us at (configuration, board
 * definitions, PEM files): symbolic links are followed, since read-only images often link
 * /etc into a data partition. fileio_read is for the agent's own state.
 */
int fileio_read_input(const char *path, size_t max, unsigned char **out, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * strerror for what the read functions return, saying "not a regular file" for EINVAL and
 * "a symbolic link (refused)" for ELOOP, which is what those mean there.
 */
const char *fileio_strerror(int e);

/* What fileio_write_atomic appends to a path for its temp file. */
#define FILEIO_TEMP_SUFFIX ".tmp"

/*
 * Replaces path atomically: writes path.tmp with mode, fsyncs it, hard-links the current
 * file (if any) to backup (when backup is not NULL), renames path.tmp over path and fsyncs
 * the directory. After a crash at any point path holds either the old or the new content;
 * backup, when given, holds the previous content.
 */
int fileio_write_atomic(const char *path, const char *backup, const void *data, size_t len,
                        mode_t mode) __attribute__((warn_unused_result));

/* fsync of the directory that contains path. */
int fileio_sync_dir(const char *path) __attribute__((warn_unused_result));

/* Creates a directory and its parents with mode (existing ones are left as they are). */
int fileio_mkdirs(const char *dir, mode_t mode) __attribute__((warn_unused_result));

/*
 * Reads the first line of a small text file (sysfs attributes, sim files), without the
 * trailing newline and surrounding white space, reading at most size - 1 bytes. ENOENT
 * when missing; ENODATA when empty; EINVAL when not a regular file (symbolic links are
 * followed: sysfs paths are full of them).
 */
int fileio_read_line(const char *path, char *buf, size_t size) __attribute__((warn_unused_result));

#endif
