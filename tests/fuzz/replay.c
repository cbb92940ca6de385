/*
 * Feeds files to a fuzz target without libFuzzer, one call per file (Mbed TLS
 * programs/fuzz/onefile.c): the smoke run of the committed corpus in `ctest -L fuzz`, with
 * any compiler, and under ASan in `make sanitize`. Also replays a crash artifact:
 *
 *   fuzz_<name>_replay PATH...     (a directory: each regular file in it, in name order)
 *
 * Exit 0 when every input ran, 1 when a path could not be read or no input was found (a
 * corpus that went missing must not pass as a clean run). A finding aborts.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Inputs are seeds and artifacts: small. A larger file is not one. */
#define REPLAY_MAX (16 * 1024 * 1024)

static int run_file(const char *path)
{
	int ret = -1;
	FILE *f = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	size_t len;

	f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto exit;
	}
	if (st.st_size > REPLAY_MAX) {
		fprintf(stderr, "replay: %s: larger than %d bytes\n", path, REPLAY_MAX);
		goto exit;
	}
	/* An exact-size copy, as libFuzzer gives: ASan sees any read past the end. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		goto exit;
	}
	len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || len != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto exit;
	}
	LLVMFuzzerTestOneInput(buf, len);
	ret = 0;
exit:
	free(buf);
	if (f)
		fclose(f);
	return ret;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Runs path, or each regular file in it; counts the inputs in *n. */
static int run_path(const char *path, unsigned *n)
{
	struct dirent **names = NULL;
	struct stat st;
	int count, ret = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (run_file(path) < 0)
			return -1;
		(*n)++;
		return 0;
	}
	count = scandir(path, &names, skip_dot, alphasort);
	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < count; i++) {
		char file[4096];
		int len = snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);

		if (ret == 0 && len > 0 && (size_t)len < sizeof(file) && stat(file, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (run_file(file) < 0)
				ret = -1;
			else
				(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &n) < 0)
			rc = 1;
	if (n == 0) {
		fprintf(stderr, "replay: no input found\n");
		rc = 1;
	}
	printf("replay: %u input(s) ran\n", n);
	return rc;
}
