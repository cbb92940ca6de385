/*
 * The identity record store: a crash at any point of a store, a truncated or damaged file,
 * permissions, and an erase that removes the record and nothing else.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/random.h>

#include "hal.h"
#include "hal_test_util.h"
#include "idstore.h"

struct fixture {
	char *dir;
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char root[PATH_MAX];

	assert_non_null(f);
	f->dir = tu_tmpdir("idstore");
	snprintf(f->board.name, sizeof(f->board.name), "sim");
	snprintf(f->board.backend, sizeof(f->board.backend), "sim");
	tu_path(f->state, f->dir, "state");
	assert_int_equal(hal_open(&f->hal, &f->board, tu_path(root, f->dir, "sim"), f->state),
	                 HAL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fileio_crash_hook = NULL;
	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* A record big enough that truncation points fall in every part of the file. */
static void store(struct hal *hal, const char *node_id, uint32_t generation)
{
	Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;
	uint8_t key[121], cert[600];
	ProtobufCBinaryData chain[1];

	memset(key, 0x5a, sizeof(key));
	memset(cert, (int)generation, sizeof(cert));
	chain[0].data = cert;
	chain[0].len = sizeof(cert);
	rec.version = IDSTORE_RECORD_VERSION;
	rec.node_id = (char *)node_id;
	rec.key_der.data = key;
	rec.key_der.len = sizeof(key);
	rec.n_cert_chain_der = 1;
	rec.cert_chain_der = chain;
	rec.generation = generation;
	assert_int_equal(hal_identity_store(hal, &rec), HAL_OK);
}

/* Loads and returns the node ID found ("" when none), checking the result is whole. */
static enum hal_status load(struct hal *hal, char *node_id, struct hal_load_info *info)
{
	Kma__V1__IdentityRecord *rec = (void *)1;
	enum hal_status st = hal_identity_load(hal, &rec, info);

	node_id[0] = '\0';
	if (st != HAL_OK) {
		assert_null(rec); /* never a partially filled record */
		assert_true(hal->error[0] != '\0');
		return st;
	}
	assert_non_null(rec);
	assert_int_equal(rec->version, IDSTORE_RECORD_VERSION);
	assert_int_equal(rec->key_der.len, 121);
	assert_int_equal(rec->n_cert_chain_der, 1);
	assert_int_equal(rec->cert_chain_der[0].len, 600);
	/* the certificate bytes were written from the generation: A=1, B=2 */
	assert_int_equal(rec->cert_chain_der[0].data[599], rec->generation);
	snprintf(node_id, 64, "%s", rec->node_id);
	kma__v1__identity_record__free_unpacked(rec, NULL);
	return st;
}

static int crash_point = -1;

static int crash_hook(enum fileio_point point)
{
	return (int)point == crash_point;
}

/* (1) A crash anywhere in a store leaves the old record or the new one, whole. */
static void test_torn_write(void **state)
{
	struct fixture *f = *state;
	char node[64];
	struct hal_load_info info;

	for (int p = 0; p < FILEIO_POINT_COUNT; p++) {
		assert_int_equal(hal_identity_erase(&f->hal), HAL_OK);
		store(&f->hal, "node-A", 1);
		crash_point = p;
		fileio_crash_hook = crash_hook;
		{
			Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;

			rec.version = IDSTORE_RECORD_VERSION;
			rec.node_id = "node-B";
			rec.generation = 2;
			assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_IO);
			assert_int_equal(f->hal.last_errno, EINTR);
		}
		fileio_crash_hook = NULL;

		/* node-B above has no key: load() would flag it, so look at it here */
		{
			Kma__V1__IdentityRecord *rec = NULL;

			assert_int_equal(hal_identity_load(&f->hal, &rec, &info), HAL_OK);
			assert_false(info.from_backup);
			if (p <= FILEIO_POINT_RENAME)
				assert_string_equal(rec->node_id, "node-A");
			else
				assert_true(strcmp(rec->node_id, "node-A") == 0 ||
				            strcmp(rec->node_id, "node-B") == 0);
			kma__v1__identity_record__free_unpacked(rec, NULL);
		}
		/* and the store works again after the crash */
		store(&f->hal, "node-C", 3);
		assert_int_equal(load(&f->hal, node, &info), HAL_OK);
		assert_string_equal(node, "node-C");
		assert_false(info.from_backup);
	}
}

/* A crash in the very first store leaves no record at all, not a broken one. */
static void test_torn_first_write(void **state)
{
	struct fixture *f = *state;
	char node[64];

	for (int p = 0; p <= FILEIO_POINT_RENAME; p++) {
		if (p == FILEIO_POINT_BACKUP)
			continue; /* nothing to back up: the store does not pass there */
		assert_int_equal(hal_identity_erase(&f->hal), HAL_OK);
		crash_point = p;
		fileio_crash_hook = crash_hook;
		{
			Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;

			rec.version = IDSTORE_RECORD_VERSION;
			rec.node_id = "node-A";
			assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_IO);
		}
		fileio_crash_hook = NULL;
		assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_NOT_FOUND);
	}
}

static char *read_current(struct fixture *f, size_t *len)
{
	char *data = tu_read(f->state, IDSTORE_FILE, len);

	assert_non_null(data);
	return data;
}

/* (2) A truncated or damaged current record: the previous one is loaded, and why. */
static void test_truncated_and_flipped(void **state)
{
	struct fixture *f = *state;
	struct hal_load_info info;
	char node[64], path[PATH_MAX];
	size_t len = 0;
	char *good;

	store(&f->hal, "node-A", 1);
	store(&f->hal, "node-B", 2);
	good = read_current(f, &len);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-B");
	assert_false(info.from_backup);

	{
		const size_t cuts[] = {0, 5, 12, len / 2, len - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			tu_write_bytes(f->state, IDSTORE_FILE, good, cuts[i]);
			assert_int_equal(load(&f->hal, node, &info), HAL_OK);
			assert_string_equal(node, "node-A");
			assert_true(info.from_backup);
			assert_non_null(strstr(info.detail, IDSTORE_FILE));
			assert_non_null(strstr(info.detail, "truncated"));
		}
	}
	{
		const struct {
			size_t at;
			const char *why;
		} flips[] = {
		    {0, "magic"},          /* magic */
		    {10, "truncated"},     /* payload length, larger */
		    {12, "checksum"},      /* first payload byte */
		    {len / 2, "checksum"}, /* the key or certificate */
		    {len - 1, "checksum"}, /* the checksum itself */
		};

		for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
			good[flips[i].at] ^= (char)0x80;
			tu_write_bytes(f->state, IDSTORE_FILE, good, len);
			good[flips[i].at] ^= (char)0x80;
			assert_int_equal(load(&f->hal, node, &info), HAL_OK);
			assert_string_equal(node, "node-A");
			assert_true(info.from_backup);
			if (!strstr(info.detail, flips[i].why))
				fail_msg("flip at %zu: \"%s\" does not say %s", flips[i].at,
				         info.detail, flips[i].why);
		}
	}
	/* a length field one smaller than the payload */
	{
		char *shorter = malloc(len);
		uint32_t plen = (uint32_t)(len - IDSTORE_HEADER_LEN - IDSTORE_TRAILER_LEN) - 1;

		assert_non_null(shorter);
		memcpy(shorter, good, len);
		shorter[8] = (char)(plen >> 24);
		shorter[9] = (char)(plen >> 16);
		shorter[10] = (char)(plen >> 8);
		shorter[11] = (char)plen;
		tu_write_bytes(f->state, IDSTORE_FILE, shorter, len);
		free(shorter);
		assert_int_equal(load(&f->hal, node, &info), HAL_OK);
		assert_string_equal(node, "node-A");
		assert_non_null(strstr(info.detail, "trailing data"));
	}
	/* trailing garbage after a good record */
	{
		char *longer = malloc(len + 3);

		assert_non_null(longer);
		memcpy(longer, good, len);
		memcpy(longer + len, "xyz", 3);
		tu_write_bytes(f->state, IDSTORE_FILE, longer, len + 3);
		assert_int_equal(load(&f->hal, node, &info), HAL_OK);
		assert_string_equal(node, "node-A");
		assert_true(info.from_backup);
		free(longer);
	}
	/* storing over a damaged record keeps the good backup */
	store(&f->hal, "node-C", 3);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-C");
	assert_int_equal(unlink(tu_path(path, f->state, IDSTORE_FILE)), 0);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-A");
	assert_true(info.from_backup);
	free(good);
}

/* Only the backup left (cannot happen through the HAL, but be robust): load it. */
static void test_only_backup(void **state)
{
	struct fixture *f = *state;
	struct hal_load_info info;
	char node[64], path[PATH_MAX];

	store(&f->hal, "node-A", 1);
	store(&f->hal, "node-B", 2);
	assert_int_equal(unlink(tu_path(path, f->state, IDSTORE_FILE)), 0);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-A");
	assert_true(info.from_backup);
	assert_non_null(strstr(info.detail, "missing"));
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: loading the identity blocked\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/*
 * Issue 16 item 9: something other than a regular file at the record's path (a FIFO the
 * network side planted, a link, a directory) is refused at once, never opened further
 * nor waited on, and the previous copy is used as for any other bad record.
 */
static void test_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	struct hal_load_info info;
	char node[64], path[PATH_MAX], prev[PATH_MAX], elsewhere[PATH_MAX];

	signal(SIGALRM, on_alarm);
	alarm(10);
	(void)mkdir(f->state, 0700); /* hal_open may have made it */
	assert_int_equal(mkfifo(tu_path(path, f->state, IDSTORE_FILE), 0600), 0);
	assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
	assert_non_null(strstr(f->hal.error, "not a regular file"));
	assert_int_equal(mkfifo(tu_path(prev, f->state, IDSTORE_BACKUP), 0600), 0);
	assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
	alarm(0);
	unlink(path);
	unlink(prev);
	store(&f->hal, "node-A", 1);
	store(&f->hal, "node-B", 2);
	/* node-B's record, moved elsewhere, and a link to it in its place */
	assert_int_equal(rename(path, tu_path(elsewhere, f->dir, "elsewhere")), 0);
	assert_int_equal(symlink(elsewhere, path), 0);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-A"); /* from the backup, not through the link */
	assert_true(info.from_backup);
	assert_non_null(strstr(info.detail, "symbolic link"));
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(load(&f->hal, node, &info), HAL_OK);
	assert_string_equal(node, "node-A");
	assert_non_null(strstr(info.detail, "not a regular file"));
	rmdir(path);
}

/*
 * Two writers (the daemon recording its enrolled serial, kma-agent quickstart beside it)
 * take turns, and one that read the record before the other stored a new QuickStart
 * generation cannot write the older one back. Before, they shared the temp file (a rename
 * failed: ENOENT) and the older generation could undo the QuickStart.
 */
static void test_writers_take_turns(void **state)
{
	struct fixture *f = *state;
	char node[64];
	pid_t child;
	int status;

	store(&f->hal, "node-A", 1);
	store(&f->hal, "node-B", 2);
	{
		Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;

		rec.version = IDSTORE_RECORD_VERSION;
		rec.node_id = "node-A";
		rec.generation = 1;
		assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_INVALID);
		assert_non_null(strstr(f->hal.error, "older than the stored generation 2"));
	}
	assert_int_equal(load(&f->hal, node, NULL), HAL_OK);
	assert_string_equal(node, "node-B");

	/* Two processes storing at once, many times: every store succeeds, the record is
	 * whole at the end. */
	child = fork();
	assert_true(child >= 0);
	for (int i = 0; i < 200; i++) {
		if (child == 0) {
			Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;
			uint8_t key[121], cert[600];
			ProtobufCBinaryData chain[1] = {{sizeof(cert), cert}};

			memset(key, 0x5a, sizeof(key));
			memset(cert, 2, sizeof(cert));
			rec.version = IDSTORE_RECORD_VERSION;
			rec.node_id = "node-B";
			rec.key_der.data = key;
			rec.key_der.len = sizeof(key);
			rec.n_cert_chain_der = 1;
			rec.cert_chain_der = chain;
			rec.generation = 2;
			if (hal_identity_store(&f->hal, &rec) != HAL_OK) {
				fprintf(stderr, "child: %s\n", f->hal.error);
				_exit(1);
			}
		} else {
			store(&f->hal, "node-B", 2);
		}
	}
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(load(&f->hal, node, NULL), HAL_OK);
	assert_string_equal(node, "node-B");
}

/* Writes a framed payload as the current record. */
static void write_framed(struct fixture *f, const char *name, const uint8_t *payload, size_t len)
{
	uint8_t *framed;
	size_t flen;

	assert_int_equal(idstore_frame(payload, len, &framed, &flen), HAL_OK);
	tu_write_bytes(f->state, name, framed, flen);
	free(framed);
}

static void write_record(struct fixture *f, const char *name, const Kma__V1__IdentityRecord *rec)
{
	size_t len = kma__v1__identity_record__get_packed_size(rec);
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	kma__v1__identity_record__pack(rec, buf);
	write_framed(f, name, buf, len);
	free(buf);
}

/* (3) Nothing usable: HAL_ERR_CORRUPT, an explanation, and no record. */
static void test_corrupt_without_backup(void **state)
{
	struct fixture *f = *state;
	char node[64], path[PATH_MAX];
	size_t len = 0;
	char *data;

	store(&f->hal, "node-A", 1); /* first store: no backup */
	assert_false(tu_exists(f->state, IDSTORE_BACKUP));
	data = read_current(f, &len);
	data[len / 2] ^= 0x01;
	tu_write_bytes(f->state, IDSTORE_FILE, data, len);
	assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
	assert_non_null(strstr(f->hal.error, "checksum mismatch"));
	assert_non_null(strstr(f->hal.error, IDSTORE_BACKUP ": missing"));

	/* both damaged */
	tu_write_bytes(f->state, IDSTORE_BACKUP, data, len / 3);
	assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
	assert_non_null(strstr(f->hal.error, "truncated"));
	free(data);
	assert_int_equal(unlink(tu_path(path, f->state, IDSTORE_BACKUP)), 0);

	/* well framed, but not a record we may use */
	{
		Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;
		static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		rec.version = 2;
		rec.node_id = "node-A";
		write_record(f, IDSTORE_FILE, &rec);
		assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
		assert_non_null(strstr(f->hal.error, "version"));
		/* and the store refuses to write what load would reject */
		assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_INVALID);

		rec.version = IDSTORE_RECORD_VERSION;
		rec.node_id = "";
		write_record(f, IDSTORE_FILE, &rec);
		assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
		assert_non_null(strstr(f->hal.error, "node ID"));
		assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_INVALID);

		write_framed(f, IDSTORE_FILE, junk, sizeof(junk));
		assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
		assert_non_null(strstr(f->hal.error, "unpack"));
	}
	/* larger than the cap */
	{
		char *big = calloc(1, IDSTORE_MAX + 1);

		assert_non_null(big);
		tu_write_bytes(f->state, IDSTORE_FILE, big, IDSTORE_MAX + 1);
		free(big);
		assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_CORRUPT);
		assert_non_null(strstr(f->hal.error, "larger than"));
	}
}

/* (4) The record and its backup are 0600 and the state directory 0700, whatever the umask. */
static void test_modes_with_umask_0(void **state)
{
	struct fixture *f = *state;
	mode_t old = umask(0);
	struct hal hal;
	char root[PATH_MAX], sdir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	assert_int_equal(hal_open(&hal, &f->board, tu_path(root, f->dir, "sim2"),
	                          tu_path(sdir, f->dir, "fresh/state")),
	                 HAL_OK);
	assert_int_equal(stat(sdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	store(&hal, "node-A", 1);
	store(&hal, "node-B", 2);
	assert_int_equal(stat(tu_path(path, sdir, IDSTORE_FILE), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(tu_path(path, sdir, IDSTORE_BACKUP), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	hal_close(&hal);
	umask(old);
}

/* (5) Erase removes the record, its backup and a leftover temp file, and nothing else. */
static void test_erase(void **state)
{
	struct fixture *f = *state;
	char node[64];

	tu_write(f->state, "agent.state", "keep me\n");
	store(&f->hal, "node-A", 1);
	store(&f->hal, "node-B", 2);
	crash_point = FILEIO_POINT_FSYNC; /* leaves identity.rec.tmp behind */
	fileio_crash_hook = crash_hook;
	{
		Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;

		rec.version = IDSTORE_RECORD_VERSION;
		rec.node_id = "node-C";
		rec.generation = 3;
		assert_int_equal(hal_identity_store(&f->hal, &rec), HAL_ERR_IO);
	}
	fileio_crash_hook = NULL;
	assert_true(tu_exists(f->state, IDSTORE_FILE));
	assert_true(tu_exists(f->state, IDSTORE_BACKUP));
	assert_true(tu_exists(f->state, IDSTORE_TEMP));

	assert_int_equal(hal_identity_erase(&f->hal), HAL_OK);
	assert_false(tu_exists(f->state, IDSTORE_FILE));
	assert_false(tu_exists(f->state, IDSTORE_BACKUP));
	assert_false(tu_exists(f->state, IDSTORE_TEMP));
	assert_true(tu_exists(f->state, "agent.state"));
	assert_int_equal(load(&f->hal, node, NULL), HAL_ERR_NOT_FOUND);
	/* erasing nothing is fine */
	assert_int_equal(hal_identity_erase(&f->hal), HAL_OK);
	/* and a new identity can be stored */
	store(&f->hal, "node-D", 4);
	assert_int_equal(load(&f->hal, node, NULL), HAL_OK);
	assert_string_equal(node, "node-D");
}

/* The decoder takes untrusted bytes: random damage never crashes it or half-loads. */
static void test_decode_mutations(void **state)
{
	struct fixture *f = *state;
	size_t len = 0;
	char *good;
	uint8_t *buf;
	char why[160];

	store(&f->hal, "node-A", 1);
	good = read_current(f, &len);
	buf = malloc(len);
	assert_non_null(buf);
	for (int i = 0; i < 3000; i++) {
		Kma__V1__IdentityRecord *rec = (void *)1;
		uint32_t r[3];
		size_t n = len;
		enum hal_status st;

		assert_int_equal(getrandom(r, sizeof(r), 0), (ssize_t)sizeof(r));
		memcpy(buf, good, len);
		buf[r[0] % len] ^= (uint8_t)(r[1] | 1);
		if (i % 3 == 0)
			n = r[2] % len;
		/* every byte is covered by the framing or the checksum */
		st = idstore_decode(buf, n, &rec, why, sizeof(why));
		assert_int_equal(st, HAL_ERR_CORRUPT);
		assert_null(rec);
		assert_true(why[0] != '\0');
	}
	free(buf);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_torn_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_first_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_and_flipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_only_backup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_without_backup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modes_with_umask_0, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decode_mutations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_regular_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writers_take_turns, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
