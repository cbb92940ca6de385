/*
 * Board definitions (board/board.c board_load_file), through the public path-based entry
 * point: the input is a board.conf, read from a memfd. A loaded board must satisfy the
 * rules board.h states (backend, required keys, manual steps with instructions); a
 * refused one must leave the board zeroed and say where and why.
 */

#include <string.h>
#include <unistd.h>

#include "board.h"
#include "fuzz.h"

static void check_board(const struct board *b)
{
	FUZZ_TERMINATED(b->name);
	FUZZ_TERMINATED(b->description);
	FUZZ_TERMINATED(b->backend);
	FUZZ_TERMINATED(b->arch);
	FUZZ_TERMINATED(b->sources.board_serial);
	FUZZ_TERMINATED(b->sources.product_uuid);
	FUZZ_TERMINATED(b->sources.disk_serial);
	FUZZ_TERMINATED(b->sources.cpu_id);
	FUZZ_TERMINATED(b->sources.mac);
	FUZZ_TERMINATED(b->actions.reboot);
	FUZZ_TERMINATED(b->actions.service_restart);
	FUZZ_TERMINATED(b->actions.health_check);
	FUZZ_CHECK(b->name[0] && b->arch[0]);
	FUZZ_CHECK(strcmp(b->backend, "linux") == 0 || strcmp(b->backend, "sim") == 0);
	FUZZ_CHECK(b->sources.board_serial[0] && b->sources.product_uuid[0] &&
	           b->sources.disk_serial[0] && b->sources.cpu_id[0] && b->sources.mac[0]);
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++) {
		FUZZ_TERMINATED(b->steps[s].instruction);
		FUZZ_CHECK(!b->steps[s].manual || b->steps[s].instruction[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct board zero;
	struct board b;
	struct board_error err;
	enum board_status st;
	char path[64];
	int fd;

	fd = fuzz_memfd(data, size, path, sizeof(path));
	st = board_load_file(path, &b, &err);
	close(fd);

	FUZZ_TERMINATED(err.path);
	FUZZ_TERMINATED(err.message);
	if (st == BOARD_OK) {
		check_board(&b);
		return 0;
	}
	FUZZ_CHECK(st == BOARD_ERR_SYNTAX || st == BOARD_ERR_INVALID);
	FUZZ_CHECK(err.message[0] != '\0');
	FUZZ_CHECK(err.line >= 0 && err.line <= fuzz_count_lines(data, size));
	FUZZ_CHECK(memcmp(&b, &zero, sizeof(b)) == 0);
	return 0;
}
