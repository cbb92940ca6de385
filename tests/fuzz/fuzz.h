#ifndef KMA_FUZZ_H
#define KMA_FUZZ_H

/*
 * Shared by the fuzz targets (fuzz_<name>.c) and the corpus replayer (replay.c).
 *
 * Each target defines LLVMFuzzerTestOneInput only. It is linked either with libFuzzer
 * (-fsanitize=fuzzer, clang with KMA_FUZZ=ON) or with replay.c, which feeds it the files
 * of a corpus: the smoke run of `ctest -L fuzz`. A target keeps no state between calls,
 * frees what it allocates and writes no file (path-based parsers read a memfd).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * libFuzzer's entry point: one input of size bytes at data (no terminating NUL, may be
 * empty). Returns 0; a broken invariant aborts so libFuzzer and the replayer see a crash.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the parser's output that must hold for every input. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The sizeof(a) bytes of a hold a NUL: a string field was left terminated. */
#define FUZZ_TERMINATED(a) FUZZ_CHECK(memchr((a), '\0', sizeof(a)) != NULL)

/* Physical lines in a text input: its newlines, plus one for an unterminated last line. */
static inline int fuzz_count_lines(const uint8_t *data, size_t size)
{
	int n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size > 0 && data[size - 1] != '\n');
}

/*
 * For parsers that take a path: puts the input in an anonymous memory file and writes
 * "/proc/self/fd/N" to path. Returns the descriptor (the caller closes it, which frees
 * the file); aborts when the kernel cannot make one, which is a broken harness, not an
 * uninteresting input. /proc/self/fd/N is a symbolic link to the kernel: parsers that
 * read with fileio_read_input (config, peers, boards) follow it, fileio_read (O_NOFOLLOW)
 * would refuse it.
 */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_size)
{
	int fd = memfd_create("kma-fuzz", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0) {
		perror("fuzz: memfd_create");
		abort();
	}
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0) {
			perror("fuzz: write to memfd");
			abort();
		}
		done += (size_t)n;
	}
	snprintf(path, path_size, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
