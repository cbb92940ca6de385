/*
 * The linux backend on fake sysfs/procfs trees: where each part of the hardware identity
 * comes from, and which devices the "auto" sources choose and skip. Runs no programs.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal.h"
#include "hal_test_util.h"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
	bool open;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_tmpdir("linux");
	tu_path(f->root, f->dir, "root");
	tu_path(f->state, f->dir, "state");
	assert_int_equal(fileio_mkdirs(f->root, 0755), 0);
	snprintf(f->board.name, sizeof(f->board.name), "fake");
	snprintf(f->board.backend, sizeof(f->board.backend), "linux");
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

/* Reads the identity with the given sources (NULL: "none"). */
static void read_with(struct fixture *f, const char *board, const char *uuid, const char *disk,
                      const char *cpu, const char *mac, struct hal_hwid *id)
{
	struct board_sources *s = &f->board.sources;

	snprintf(s->board_serial, sizeof(s->board_serial), "%s", board ? board : "none");
	snprintf(s->product_uuid, sizeof(s->product_uuid), "%s", uuid ? uuid : "none");
	snprintf(s->disk_serial, sizeof(s->disk_serial), "%s", disk ? disk : "none");
	snprintf(s->cpu_id, sizeof(s->cpu_id), "%s", cpu ? cpu : "none");
	snprintf(s->mac, sizeof(s->mac), "%s", mac ? mac : "none");
	hal_close(&f->hal);
	assert_int_equal(hal_open(&f->hal, &f->board, f->root, f->state), HAL_OK);
	assert_int_equal(hal_read_hwid(&f->hal, id), HAL_OK);
}

static const char x86_cpuinfo[] = "processor\t: 0\n"
                                  "vendor_id\t: GenuineIntel\n"
                                  "cpu family\t: 6\n"
                                  "model name\t: Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz\n"
                                  "flags\t\t: fpu vme de pse\n"
                                  "\n"
                                  "processor\t: 1\n"
                                  "model name\t: Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz\n";

static const char arm32_cpuinfo[] = "processor\t: 0\n"
                                    "model name\t: ARMv7 Processor rev 4 (v7l)\n"
                                    "CPU implementer\t: 0x41\n"
                                    "CPU part\t: 0xd03\n"
                                    "\n"
                                    "Hardware\t: BCM2835\n"
                                    "Revision\t: a02082\n"
                                    "Serial\t\t: 00000000abcdef12\n"
                                    "Model\t\t: Raspberry Pi 3 Model B Rev 1.2\n";

static const char arm64_cpuinfo[] = "processor\t: 0\n"
                                    "BogoMIPS\t: 48.00\n"
                                    "Features\t: fp asimd evtstrm crc32 cpuid\n"
                                    "CPU implementer\t: 0x41\n"
                                    "CPU architecture: 8\n"
                                    "CPU variant\t: 0x0\n"
                                    "CPU part\t: 0xd08\n"
                                    "CPU revision\t: 3\n"
                                    "Serial\t\t: 0000000000000000\n";

static void test_dmi_and_file(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;

	tu_write(f->root, "sys/class/dmi/id/board_serial", "  BSN-0042  \n");
	tu_write(f->root, "sys/class/dmi/id/product_uuid",
	         "4c4c4544-0042-3510-8052-b4c04f4e3332\n");
	tu_write(f->root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	read_with(f, "dmi:board_serial", "dmi:product_uuid", "file:/etc/machine-id", NULL, NULL,
	          &id);
	assert_string_equal(id.board_serial, "BSN-0042");
	assert_string_equal(id.product_uuid, "4c4c4544-0042-3510-8052-b4c04f4e3332");
	assert_string_equal(id.disk_serial, "0123456789abcdef0123456789abcdef");
	assert_string_equal(id.cpu_id, "");
	assert_string_equal(id.mac, "");

	/* missing sources are empty parts, not errors */
	read_with(f, "dmi:chassis_serial", "file:/nonexistent", "block:sdq", "cpuinfo:auto",
	          "net:eth9", &id);
	assert_string_equal(id.board_serial, "");
	assert_string_equal(id.product_uuid, "");
	assert_string_equal(id.disk_serial, "");
	assert_string_equal(id.cpu_id, "");
	assert_string_equal(id.mac, "");

	/* bytes that are not printable ASCII are replaced */
	tu_write(f->root, "sys/class/dmi/id/board_serial", "BSN\x01\xff\n");
	read_with(f, "dmi:board_serial", NULL, NULL, NULL, NULL, &id);
	assert_string_equal(id.board_serial, "BSN??");
}

static void test_devicetree(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;
	static const char serial[] = "10000000abcdef01"; /* NUL-terminated, no newline */

	/* only the /sys/firmware path, as in some containers */
	tu_write_bytes(f->root, "sys/firmware/devicetree/base/serial-number", serial,
	               sizeof(serial));
	read_with(f, "devicetree:serial-number", NULL, NULL, NULL, NULL, &id);
	assert_string_equal(id.board_serial, "10000000abcdef01");

	/* /proc/device-tree wins when present */
	tu_write_bytes(f->root, "proc/device-tree/serial-number", "PROCDT\0", 7);
	tu_write_bytes(f->root, "proc/device-tree/chosen/board-id", "B-7\0", 4);
	read_with(f, "devicetree:serial-number", "devicetree:chosen/board-id", NULL, NULL, NULL,
	          &id);
	assert_string_equal(id.board_serial, "PROCDT");
	assert_string_equal(id.product_uuid, "B-7");
}

/* A SCSI unit serial number VPD page as the kernel exposes it. */
static void write_vpd80(struct fixture *f, const char *dev, const char *serial)
{
	char rel[PATH_MAX];
	uint8_t page[64] = {0x00, 0x80, 0x00, 0x00};
	size_t n = strlen(serial);

	page[3] = (uint8_t)n;
	memcpy(page + 4, serial, n);
	snprintf(rel, sizeof(rel), "sys/block/%s/device/vpd_pg80", dev);
	tu_write_bytes(f->root, rel, page, 4 + n);
}

static void test_block_auto(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;
	char path[PATH_MAX];

	/* name order: dm-0, loop0, nvme0n1, sda, sdb, zram0 */
	tu_write(f->root, "sys/block/loop0/device/serial", "LOOPSERIAL\n");
	tu_write(f->root, "sys/block/dm-0/serial", "DMSERIAL\n");
	tu_write(f->root, "sys/block/zram0/serial", "ZRAM\n");
	write_vpd80(f, "sda", "    WD-WCC4N1234567");
	tu_write(f->root, "sys/block/sda/removable", "0\n");
	tu_write(f->root, "sys/block/sdb/device/serial", "USBSTICK\n");
	tu_write(f->root, "sys/block/sdb/removable", "1\n");
	read_with(f, NULL, NULL, "block:auto", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "WD-WCC4N1234567");

	/* an NVMe disk sorts first; its serial is padded with spaces */
	tu_write(f->root, "sys/block/nvme0n1/device/serial", "S4EWNX0R123456      \n");
	read_with(f, NULL, NULL, "block:auto", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "S4EWNX0R123456");

	/* a named device is read even when auto would skip it */
	read_with(f, NULL, NULL, "block:sdb", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "USBSTICK");
	read_with(f, NULL, NULL, "block:sda", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "WD-WCC4N1234567");

	/* only virtual and removable devices: no disk serial */
	tu_rmtree(strdup(tu_path(path, f->root, "sys/block/nvme0n1")));
	tu_rmtree(strdup(tu_path(path, f->root, "sys/block/sda")));
	read_with(f, NULL, NULL, "block:auto", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "");

	/* eMMC on an ARM board */
	tu_write(f->root, "sys/block/mmcblk0/device/serial", "0x8a2b3c4d\n");
	tu_write(f->root, "sys/block/mmcblk0boot0/device/serial", "0x8a2b3c4d\n");
	read_with(f, NULL, NULL, "block:auto", NULL, NULL, &id);
	assert_string_equal(id.disk_serial, "0x8a2b3c4d");
}

static void test_cpuinfo(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;

	/* x86: no serial, the model name stands in */
	tu_write(f->root, "proc/cpuinfo", x86_cpuinfo);
	read_with(f, NULL, NULL, NULL, "cpuinfo:auto", NULL, &id);
	assert_string_equal(id.cpu_id, "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz");
	read_with(f, NULL, NULL, NULL, "cpuinfo:Serial", NULL, &id);
	assert_string_equal(id.cpu_id, "");

	/* 32-bit ARM with a fused serial: Serial wins over the model */
	tu_write(f->root, "proc/cpuinfo", arm32_cpuinfo);
	read_with(f, NULL, NULL, NULL, "cpuinfo:auto", NULL, &id);
	assert_string_equal(id.cpu_id, "00000000abcdef12");
	read_with(f, NULL, NULL, NULL, "cpuinfo:Serial", NULL, &id);
	assert_string_equal(id.cpu_id, "00000000abcdef12");
	read_with(f, NULL, NULL, NULL, "cpuinfo:Hardware", NULL, &id);
	assert_string_equal(id.cpu_id, "BCM2835");

	/* arm64 with blank fuses and no model name: implementer and part */
	tu_write(f->root, "proc/cpuinfo", arm64_cpuinfo);
	read_with(f, NULL, NULL, NULL, "cpuinfo:auto", NULL, &id);
	assert_string_equal(id.cpu_id, "0x41:0xd08");
	/* a field name that is a prefix of another ("CPU architecture") does not match */
	read_with(f, NULL, NULL, NULL, "cpuinfo:CPU", NULL, &id);
	assert_string_equal(id.cpu_id, "");
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: reading the hardware identity blocked\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/*
 * Issue 16 item 9: a FIFO or an endless device where a serial is read (a board file that
 * points at one, a sysfs path replaced) is refused at once; a long cpuinfo is read only
 * so far. Before, the FIFO blocked the agent (and under privilege separation the root
 * helper) forever and /dev/zero made getline grow without end.
 */
static void test_not_regular_or_endless(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;
	char path[PATH_MAX];
	static char big[(1 << 20) + 4096];

	signal(SIGALRM, on_alarm);
	alarm(20);
	tu_write(f->root, "sys/class/dmi/id/x", "");
	assert_int_equal(mkfifo(tu_path(path, f->root, "sys/class/dmi/id/board_serial"), 0600), 0);
	assert_int_equal(mkfifo(tu_path(path, f->root, "fifo"), 0600), 0);
	assert_int_equal(fileio_mkdirs(tu_path(path, f->root, "proc"), 0755), 0);
	assert_int_equal(symlink("/dev/zero", tu_path(path, f->root, "proc/cpuinfo")), 0);
	read_with(f, "dmi:board_serial", "file:/fifo", NULL, "cpuinfo:auto", NULL, &id);
	assert_string_equal(id.board_serial, "");
	assert_string_equal(id.product_uuid, "");
	assert_string_equal(id.cpu_id, "");

	/* a regular cpuinfo of more than 1 MiB before the field: not looked for past that */
	unlink(path);
	memset(big, 'x', sizeof(big));
	for (size_t i = 100; i < sizeof(big) - 64; i += 100)
		big[i] = '\n';
	memcpy(big + sizeof(big) - 60, "\nmodel name : late\n", 19);
	big[sizeof(big) - 41] = '\0';
	tu_write(f->root, "proc/cpuinfo", big);
	read_with(f, NULL, NULL, NULL, "cpuinfo:model name", NULL, &id);
	assert_string_equal(id.cpu_id, "");
	alarm(0);
}

static void make_iface(struct fixture *f, const char *name, const char *mac, bool physical)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/class/net/%s/address", name);
	tu_write(f->root, rel, mac);
	if (physical) {
		snprintf(rel, sizeof(rel), "sys/class/net/%s/device/vendor", name);
		tu_write(f->root, rel, "0x8086\n");
	}
}

static void test_net_auto(void **state)
{
	struct fixture *f = *state;
	struct hal_hwid id;

	make_iface(f, "lo", "00:00:00:00:00:00\n", false);
	make_iface(f, "br0", "02:00:00:00:00:01\n", false);
	make_iface(f, "docker0", "02:42:ac:11:00:01\n", false);
	make_iface(f, "eth1", "00:1b:21:aa:bb:02\n", true);
	make_iface(f, "veth1234", "7a:11:22:33:44:55\n", false);
	read_with(f, NULL, NULL, NULL, NULL, "net:auto", &id);
	assert_string_equal(id.mac, "00:1b:21:aa:bb:02");

	/* lowest-named physical interface wins; an all-zero address is skipped */
	make_iface(f, "eth0", "00:1b:21:aa:bb:01\n", true);
	make_iface(f, "enp0s0", "00:00:00:00:00:00\n", true);
	read_with(f, NULL, NULL, NULL, NULL, "net:auto", &id);
	assert_string_equal(id.mac, "00:1b:21:aa:bb:01");

	read_with(f, NULL, NULL, NULL, NULL, "net:docker0", &id);
	assert_string_equal(id.mac, "02:42:ac:11:00:01");
}

/* The shipped boards against trees shaped like their products. */
static void test_shipped_boards(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	struct board_error err;
	struct hal_hwid id;

	snprintf(dir, sizeof(dir), "%s/board", getenv("KMA_SOURCE_DIR"));
	tu_write(f->root, "sys/class/dmi/id/board_serial", "CN7475178T0042\n");
	tu_write(f->root, "sys/class/dmi/id/product_uuid",
	         "4c4c4544-0042-3510-8052-b4c04f4e3332\n");
	write_vpd80(f, "sda", "WD-WCC4N1234567");
	tu_write(f->root, "proc/cpuinfo", x86_cpuinfo);
	make_iface(f, "eno1", "3c:ec:ef:00:00:01\n", true);
	make_iface(f, "lo", "00:00:00:00:00:00\n", false);

	assert_int_equal(board_load(dir, "generic-x86_64", &f->board, &err), BOARD_OK);
	assert_int_equal(hal_open(&f->hal, &f->board, f->root, f->state), HAL_OK);
	assert_int_equal(hal_read_hwid(&f->hal, &id), HAL_OK);
	assert_string_equal(id.board_serial, "CN7475178T0042");
	assert_string_equal(id.product_uuid, "4c4c4544-0042-3510-8052-b4c04f4e3332");
	assert_string_equal(id.disk_serial, "WD-WCC4N1234567");
	assert_string_equal(id.cpu_id, "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz");
	assert_string_equal(id.mac, "3c:ec:ef:00:00:01");
	hal_close(&f->hal);

	tu_write_bytes(f->root, "proc/device-tree/serial-number", "10000000abcdef12", 17);
	tu_write(f->root, "proc/cpuinfo", arm32_cpuinfo);
	tu_write(f->root, "sys/block/mmcblk0/device/serial", "0x8a2b3c4d\n");
	assert_int_equal(board_load(dir, "generic-armhf", &f->board, &err), BOARD_OK);
	assert_int_equal(hal_open(&f->hal, &f->board, f->root, f->state), HAL_OK);
	assert_int_equal(hal_read_hwid(&f->hal, &id), HAL_OK);
	assert_string_equal(id.board_serial, "10000000abcdef12");
	assert_string_equal(id.product_uuid, "");
	assert_string_equal(id.disk_serial, "0x8a2b3c4d"); /* mmcblk0 sorts before sda */
	assert_string_equal(id.cpu_id, "00000000abcdef12");
	assert_string_equal(id.mac, "3c:ec:ef:00:00:01");
}

static void test_boot_id_and_misc(void **state)
{
	struct fixture *f = *state;
	char boot[HAL_BOOT_ID], path[PATH_MAX];
	struct hal_hwid id;
	struct hal_health h;
	struct hal hal;
	uint8_t r[300];

	read_with(f, NULL, NULL, NULL, NULL, NULL, &id);
	assert_int_equal(hal_boot_id(&f->hal, boot, sizeof(boot)), HAL_ERR_IO);
	assert_non_null(strstr(f->hal.error, "boot_id"));
	tu_write(f->root, "proc/sys/kernel/random/boot_id",
	         "6f1c2f0e-8d2b-4a4b-9d8f-1b2c3d4e5f60\n");
	assert_int_equal(hal_boot_id(&f->hal, boot, sizeof(boot)), HAL_OK);
	assert_string_equal(boot, "6f1c2f0e-8d2b-4a4b-9d8f-1b2c3d4e5f60");

	/* no commands on this board: unsupported, and nothing is run */
	assert_int_equal(hal_reboot(&f->hal), HAL_ERR_UNSUPPORTED);
	assert_non_null(strstr(f->hal.error, "reboot"));
	assert_int_equal(hal_service_restart(&f->hal), HAL_ERR_UNSUPPORTED);
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_ERR_UNSUPPORTED);
	assert_false(h.healthy);

	assert_int_equal(hal_random(&f->hal, r, sizeof(r)), HAL_OK);
	assert_true(hal_time_real(&f->hal) > 1700000000);

	/* a root that is not a directory */
	assert_int_equal(hal_open(&hal, &f->board, tu_path(path, f->dir, "nope"), f->state),
	                 HAL_ERR_INVALID);
	assert_non_null(strstr(hal.error, "nope"));
	hal_close(&hal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dmi_and_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devicetree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_auto, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cpuinfo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_regular_or_endless, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_net_auto, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shipped_boards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_boot_id_and_misc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
