#ifndef KMA_HAL_TEST_UTIL_H
#define KMA_HAL_TEST_UTIL_H

/*
 * Scratch directories and files for the HAL, board and fileio tests. Everything lives in a
 * mkdtemp directory under $TMPDIR (or /tmp), so the tests also run under qemu-user.
 * Include after <cmocka.h>.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/* A new empty directory; the caller removes it with tu_rmtree and frees it. */
static inline char *tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(PATH_MAX);

	assert_non_null(path);
	if (!base || !*base)
		base = "/tmp";
	snprintf(path, PATH_MAX, "%s/kma-%s-XXXXXX", base, tag);
	assert_non_null(mkdtemp(path));
	return path;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void tu_rmtree(char *path)
{
	if (!path)
		return;
	nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

/* "<dir>/<rel>" into a static-size buffer the caller provides (PATH_MAX). */
static inline char *tu_path(char *buf, const char *dir, const char *rel)
{
	assert_true(snprintf(buf, PATH_MAX, "%s/%s", dir, rel) < PATH_MAX);
	return buf;
}

/* Writes len bytes to <dir>/<rel>, creating the parent directories. */
static inline void tu_write_bytes(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX], parent[PATH_MAX];
	char *slash;
	FILE *f;

	tu_path(path, dir, rel);
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	assert_int_equal(fileio_mkdirs(parent, 0755), 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void tu_write(const char *dir, const char *rel, const char *text)
{
	tu_write_bytes(dir, rel, text, strlen(text));
}

/* Reads <dir>/<rel> into a new buffer (NULL when missing). */
static inline char *tu_read(const char *dir, const char *rel, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	size_t n = 0;

	if (fileio_read(tu_path(path, dir, rel), 1 << 20, &buf, &n) != 0)
		return NULL;
	if (len)
		*len = n;
	return (char *)buf;
}

static inline bool tu_exists(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	return access(tu_path(path, dir, rel), F_OK) == 0;
}

#endif
