/*
 * The sim backend (a board replacement is a changed file), the HAL's wrappers, and the
 * hardware identity helpers: fingerprint, diff, conversion to and from the wire message.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "hal.h"
#include "sim_fixture.h"
#include "vocab.h"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tu_sim_open("sim", true, &f->dir, f->root, f->state, &f->board, &f->hal);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* (6) A new system board: exactly the board bit differs, and the fingerprint changes. */
static void test_board_replacement(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid before, after;
	uint8_t fp1[HAL_FP_LEN], fp2[HAL_FP_LEN];
	char text[2 * HAL_FP_LEN + 1];

	assert_int_equal(hal_read_hwid(&f->hal, &before), HAL_OK);
	assert_string_equal(before.board_serial, "BSN1");
	assert_string_equal(before.mac, "aa:bb:cc:dd:ee:ff");
	hal_hwid_fingerprint(&before, fp1);
	/* SHA-256 of each part as a 4-byte big-endian length and its bytes (Python hashlib) */
	hex(fp1, sizeof(fp1), text);
	assert_string_equal(text,
	                    "29a9a9e151de8fe19620a61026e26a19a458fc3cc97a2ffda1fde52731f5aece");

	tu_write(f->root, "hw/board_serial", "BSN2\n");
	assert_int_equal(hal_read_hwid(&f->hal, &after), HAL_OK);
	assert_string_equal(after.board_serial, "BSN2");
	assert_int_equal(hal_hwid_diff(&before, &after), 1u << KMA_PART_BOARD);
	hal_hwid_fingerprint(&after, fp2);
	assert_memory_not_equal(fp1, fp2, HAL_FP_LEN);

	tu_write(f->root, "hw/mac", "aa:bb:cc:dd:ee:00\n");
	tu_write(f->root, "hw/disk_serial", "DISK2\n");
	assert_int_equal(hal_read_hwid(&f->hal, &after), HAL_OK);
	assert_int_equal(hal_hwid_diff(&before, &after),
	                 1u << KMA_PART_BOARD | 1u << KMA_PART_MAC | 1u << KMA_PART_DISK);
	assert_int_equal(hal_hwid_diff(&after, &after), 0);
}

static void test_missing_parts_are_empty(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;
	uint8_t fp[HAL_FP_LEN];
	char text[2 * HAL_FP_LEN + 1];
	char path[PATH_MAX];

	assert_int_equal(unlink(tu_path(path, f->root, "hw/cpu_id")), 0);
	tu_write(f->root, "hw/product_uuid", "");
	assert_int_equal(hal_read_hwid(&f->hal, &id), HAL_OK);
	assert_string_equal(id.cpu_id, "");
	assert_string_equal(id.product_uuid, "");
	assert_string_equal(id.board_serial, "BSN1");

	memset(&id, 0, sizeof(id));
	hal_hwid_fingerprint(&id, fp);
	hex(fp, sizeof(fp), text);
	assert_string_equal(text,
	                    "de47c9b27eb8d300dbb5f2c353e632c393262cf06340c4fa7f1b40c4cbd36f90");
}

/* Moving characters from one part to the next must change the fingerprint. */
static void test_fingerprint_separates_parts(void **state)
{
	struct hal_hwid a, b;
	uint8_t fa[HAL_FP_LEN], fb[HAL_FP_LEN];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(a.board_serial, sizeof(a.board_serial), "ab");
	snprintf(b.board_serial, sizeof(b.board_serial), "a");
	snprintf(b.product_uuid, sizeof(b.product_uuid), "b");
	hal_hwid_fingerprint(&a, fa);
	hal_hwid_fingerprint(&b, fb);
	assert_memory_not_equal(fa, fb, HAL_FP_LEN);
	assert_int_equal(hal_hwid_diff(&a, &b), 1u << KMA_PART_BOARD | 1u << KMA_PART_PRODUCT_UUID);
}

static void test_msg_round_trip(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id, back;
	Kma__V1__HardwareIdentity msg;
	uint8_t fp[HAL_FP_LEN], fp2[HAL_FP_LEN];
	uint8_t packed[1024];
	size_t len;
	Kma__V1__HardwareIdentity *un;

	assert_int_equal(hal_read_hwid(&f->hal, &id), HAL_OK);
	hal_hwid_to_msg(&id, &msg, fp);
	assert_string_equal(msg.board_serial, "BSN1");
	assert_int_equal(msg.fingerprint.len, HAL_FP_LEN);
	hal_hwid_fingerprint(&id, fp2);
	assert_memory_equal(msg.fingerprint.data, fp2, HAL_FP_LEN);

	len = kma__v1__hardware_identity__get_packed_size(&msg);
	assert_true(len < sizeof(packed));
	kma__v1__hardware_identity__pack(&msg, packed);
	un = kma__v1__hardware_identity__unpack(NULL, len, packed);
	assert_non_null(un);
	hal_hwid_from_msg(un, &back);
	kma__v1__hardware_identity__free_unpacked(un, NULL);
	assert_memory_equal(&id, &back, sizeof(id));

	hal_hwid_from_msg(NULL, &back);
	assert_string_equal(back.board_serial, "");
}

static void test_reboot_and_actions(void **state)
{
	struct fixture *f = *state;
	char id1[HAL_BOOT_ID], id2[HAL_BOOT_ID];
	char *text;

	assert_int_equal(hal_boot_id(&f->hal, id1, sizeof(id1)), HAL_OK);
	assert_int_equal(strlen(id1), 36);
	assert_int_equal(hal_reboot(&f->hal), HAL_OK);
	assert_int_equal(hal_boot_id(&f->hal, id2, sizeof(id2)), HAL_OK);
	assert_string_not_equal(id1, id2);
	assert_int_equal(hal_reboot(&f->hal), HAL_OK);
	assert_int_equal(hal_service_restart(&f->hal), HAL_OK);

	text = tu_read(f->root, "reboots", NULL);
	assert_non_null(text);
	assert_string_equal(text, "2\n");
	free(text);
	text = tu_read(f->root, "actions.log", NULL);
	assert_non_null(text);
	assert_string_equal(text, "reboot\nreboot\nservice_restart\n");
	free(text);

	/* a second open keeps the boot ID: only a reboot changes it */
	assert_int_equal(hal_boot_id(&f->hal, id2, sizeof(id2)), HAL_OK);
	hal_close(&f->hal);
	assert_int_equal(hal_open(&f->hal, &f->board, f->root, f->state), HAL_OK);
	assert_int_equal(hal_boot_id(&f->hal, id1, sizeof(id1)), HAL_OK);
	assert_string_equal(id1, id2);
}

static void test_health(void **state)
{
	struct fixture *f = *state;
	struct hal_health h;

	assert_int_equal(hal_health_check(&f->hal, &h), HAL_OK);
	assert_true(h.healthy);
	tu_write(f->root, "health", "ok\n");
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_OK);
	assert_true(h.healthy);
	tu_write(f->root, "health", "key service not serving keys\n");
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_OK);
	assert_false(h.healthy);
	assert_string_equal(h.detail, "key service not serving keys");
}

static void test_time_and_random(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	uint8_t a[64], b[64];

	assert_true(llabs(hal_time_real(&f->hal) - now) <= 2);
	tu_write(f->root, "clock_offset", "86400\n");
	assert_true(llabs(hal_time_real(&f->hal) - (now + 86400)) <= 2);
	tu_write(f->root, "clock_offset", "-3600\n");
	assert_true(llabs(hal_time_real(&f->hal) - (now - 3600)) <= 2);
	tu_write(f->root, "clock_offset", "soon\n");
	assert_true(llabs(hal_time_real(&f->hal) - now) <= 2);

	assert_int_equal(hal_random(&f->hal, a, sizeof(a)), HAL_OK);
	assert_int_equal(hal_random(&f->hal, b, sizeof(b)), HAL_OK);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct hal hal;
	struct board b = f->board;
	struct hal_hwid id;

	(void)state;
	/* the sim needs its directory */
	assert_int_equal(hal_open(&hal, &f->board, NULL, f->state), HAL_ERR_INVALID);
	assert_non_null(strstr(hal.error, "root"));
	hal_close(&hal);
	assert_int_equal(hal_read_hwid(&hal, &id), HAL_ERR_INVALID);

	snprintf(b.backend, sizeof(b.backend), "pkcs11");
	assert_int_equal(hal_open(&hal, &b, f->root, f->state), HAL_ERR_INVALID);
	assert_non_null(strstr(hal.error, "pkcs11"));
	hal_close(&hal);
	assert_int_equal(hal_open(&hal, &f->board, f->root, NULL), HAL_ERR_INVALID);
	hal_close(&hal);
	hal_close(NULL);

	assert_non_null(hal_backend_find("linux"));
	assert_non_null(hal_backend_find("sim"));
	assert_null(hal_backend_find("pkcs11"));
	assert_null(hal_backend_find(NULL));
}

static void test_status_strings(void **state)
{
	(void)state;
	for (int i = HAL_OK; i <= HAL_ERR_COMMAND; i++) {
		assert_non_null(hal_status_str(i));
		for (int j = HAL_OK; j < i; j++)
			assert_string_not_equal(hal_status_str(i), hal_status_str(j));
	}
	assert_string_equal(hal_status_str(HAL_ERR_CORRUPT), "corrupt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_board_replacement, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_parts_are_empty, setup, teardown),
	    cmocka_unit_test(test_fingerprint_separates_parts),
	    cmocka_unit_test_setup_teardown(test_msg_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reboot_and_actions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_health, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_and_random, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test(test_status_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
