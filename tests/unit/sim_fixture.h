#ifndef KMA_SIM_FIXTURE_H
#define KMA_SIM_FIXTURE_H

/*
 * A simulated appliance for the HAL tests: a scratch directory with the sim tree under
 * "sim" and the state directory "state", the shipped sim board, and the HAL open on them.
 * Include after <cmocka.h>; needs KMA_SOURCE_DIR (ctest sets it).
 */

#include <stdbool.h>

#include "board.h"
#include "hal.h"
#include "hal_test_util.h"

/*
 * Fills *dir (free with tu_rmtree), root and state (PATH_MAX each), loads the board and
 * opens the HAL. The hardware: board_serial BSN1, and with all_parts also product_uuid
 * UUID1, disk_serial DISK1, cpu_id CPU1 and mac aa:bb:cc:dd:ee:ff.
 */
static inline void tu_sim_open(const char *tag, bool all_parts, char **dir, char *root, char *state,
                               struct board *board, struct hal *hal)
{
	const char *src = getenv("KMA_SOURCE_DIR");
	char boards[PATH_MAX];
	struct board_error err;

	assert_non_null(src);
	*dir = tu_tmpdir(tag);
	tu_path(root, *dir, "sim");
	tu_path(state, *dir, "state");
	/* the shipped sim board, as the demo uses it */
	snprintf(boards, sizeof(boards), "%s/board", src);
	assert_int_equal(board_load(boards, "sim", board, &err), BOARD_OK);
	tu_write(root, "hw/board_serial", "BSN1\n");
	if (all_parts) {
		tu_write(root, "hw/product_uuid", "UUID1\n");
		tu_write(root, "hw/disk_serial", "DISK1\n");
		tu_write(root, "hw/cpu_id", "CPU1\n");
		tu_write(root, "hw/mac", "aa:bb:cc:dd:ee:ff\n");
	}
	assert_int_equal(hal_open(hal, board, root, state), HAL_OK);
}

#endif
