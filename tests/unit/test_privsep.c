/*
 * Privilege separation of the HAL (hal/privsep.h): the helper's answer to every request,
 * well-formed or not, and (as root) a real split: the agent's side as "nobody" does its
 * work through the helper, cannot read, replace or remove the identity record itself, and
 * a hostile frame on the channel is refused while the helper goes on serving.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "hal.h"
#include "sim_fixture.h"
#include "idstore.h"
#include "privsep.h"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
	uint8_t *in, *out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tu_sim_open("privsep", true, &f->dir, f->root, f->state, &f->board, &f->hal);
	assert_int_equal(chmod(f->dir, 0755), 0); /* "nobody" must reach the sim tree */
	f->in = malloc(HAL_PRIVSEP_MSG_MAX);
	f->out = malloc(HAL_PRIVSEP_MSG_MAX);
	assert_non_null(f->in);
	assert_non_null(f->out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f->in);
	free(f->out);
	free(f);
	return 0;
}

/* A record the store accepts, packed into buf; returns its length. */
static size_t pack_record(const char *node_id, uint8_t *buf)
{
	Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;

	rec.version = IDSTORE_RECORD_VERSION;
	rec.node_id = (char *)node_id;
	rec.key_der.data = (uint8_t *)"not a key";
	rec.key_der.len = 9;
	return kma__v1__identity_record__pack(&rec, buf);
}

/* Sends type + payload (len as the header claims: claim) to the helper's decision. */
static struct hal_privsep_answer ask(struct fixture *f, uint32_t type, uint32_t claim,
                                     const void *payload, size_t plen, const uint8_t **data)
{
	struct hal_privsep_hdr h = {.type = type, .len = claim};
	struct hal_privsep_answer a;
	size_t n;

	memcpy(f->in, &h, sizeof(h));
	if (plen)
		memcpy(f->in + sizeof(h), payload, plen);
	n = hal_privsep_serve_one(&f->hal, f->in, sizeof(h) + plen, f->out, HAL_PRIVSEP_MSG_MAX);
	assert_true(n >= sizeof(a));
	memcpy(&a, f->out, sizeof(a));
	assert_int_equal(n, sizeof(a) + a.error_len + a.data_len);
	if (data)
		*data = f->out + sizeof(a) + a.error_len;
	return a;
}

static bool record_exists(struct fixture *f)
{
	char path[PATH_MAX];

	return access(tu_path(path, f->state, IDSTORE_FILE), F_OK) == 0;
}

static void test_serves_each_request(void **state)
{
	struct fixture *f = *state;
	struct hal_privsep_answer a;
	const uint8_t *data;
	struct hal_hwid id;
	struct hal_health health;
	struct hal_load_info info;
	Kma__V1__IdentityRecord *rec;
	uint8_t buf[256];
	size_t len;
	char text[64];

	a = ask(f, HAL_PS_HWID, 0, NULL, 0, &data);
	assert_int_equal(a.status, HAL_OK);
	assert_int_equal(a.data_len, sizeof(id));
	memcpy(&id, data, sizeof(id));
	assert_string_equal(id.board_serial, "BSN1");
	assert_string_equal(id.mac, "aa:bb:cc:dd:ee:ff");

	a = ask(f, HAL_PS_BOOT_ID, 0, NULL, 0, &data);
	assert_int_equal(a.status, HAL_OK);
	assert_in_range(a.data_len, 1, HAL_BOOT_ID - 1);

	a = ask(f, HAL_PS_ID_LOAD, 0, NULL, 0, NULL);
	assert_int_equal(a.status, HAL_ERR_NOT_FOUND);
	assert_true(a.error_len > 0); /* says why */

	len = pack_record("a-kma01", buf);
	a = ask(f, HAL_PS_ID_STORE, (uint32_t)len, buf, len, NULL);
	assert_int_equal(a.status, HAL_OK);
	a = ask(f, HAL_PS_ID_LOAD, 0, NULL, 0, &data);
	assert_int_equal(a.status, HAL_OK);
	assert_true(a.data_len > sizeof(info));
	memcpy(&info, data, sizeof(info));
	assert_false(info.from_backup);
	rec =
	    kma__v1__identity_record__unpack(NULL, a.data_len - sizeof(info), data + sizeof(info));
	assert_non_null(rec);
	assert_string_equal(rec->node_id, "a-kma01");
	kma__v1__identity_record__free_unpacked(rec, NULL);

	a = ask(f, HAL_PS_HEALTH, 0, NULL, 0, &data);
	assert_int_equal(a.status, HAL_OK);
	assert_int_equal(a.data_len, sizeof(health));
	memcpy(&health, data, sizeof(health));
	assert_true(health.healthy);

	a = ask(f, HAL_PS_REBOOT, 0, NULL, 0, NULL);
	assert_int_equal(a.status, HAL_OK);
	assert_int_equal(
	    fileio_read_line(tu_path((char[PATH_MAX]){0}, f->root, "reboots"), text, sizeof(text)),
	    0);
	assert_string_equal(text, "1");

	a = ask(f, HAL_PS_ID_ERASE, 0, NULL, 0, NULL);
	assert_int_equal(a.status, HAL_OK);
	assert_false(record_exists(f));
}

static void assert_refused(struct hal_privsep_answer a, const uint8_t *out, const char *why)
{
	char text[512];

	assert_int_equal(a.status, HAL_ERR_INVALID);
	assert_int_equal(a.data_len, 0);
	snprintf(text, sizeof(text), "%.*s", (int)a.error_len,
	         (const char *)out + sizeof(struct hal_privsep_answer));
	if (!strstr(text, why))
		fail_msg("refusal '%s' does not say '%s'", text, why);
}

static void test_refuses_malformed_requests(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = pack_record("a-kma01", buf), n;
	struct hal_privsep_answer a;
	Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;
	uint8_t *big;

	/* Shorter than the header, whatever the bytes. */
	for (size_t i = 0; i < sizeof(struct hal_privsep_hdr); i++) {
		memset(f->in, 0xff, sizeof(struct hal_privsep_hdr));
		n = hal_privsep_serve_one(&f->hal, f->in, i, f->out, HAL_PRIVSEP_MSG_MAX);
		memcpy(&a, f->out, sizeof(a));
		assert_int_equal(n, sizeof(a) + a.error_len);
		assert_refused(a, f->out, "shorter than its header");
	}
	/* The header's length must be what arrived, both ways. */
	assert_refused(ask(f, HAL_PS_ID_STORE, (uint32_t)len + 1, buf, len, NULL), f->out,
	               "arrived");
	assert_refused(ask(f, HAL_PS_ID_STORE, (uint32_t)len - 1, buf, len, NULL), f->out,
	               "arrived");
	assert_refused(ask(f, HAL_PS_REBOOT, 0xffffffffu, NULL, 0, NULL), f->out, "arrived");
	/* Unknown types. */
	assert_refused(ask(f, 0, 0, NULL, 0, NULL), f->out, "unknown request type 0");
	assert_refused(ask(f, HAL_PS_REQ_END, 0, NULL, 0, NULL), f->out, "unknown request");
	assert_refused(ask(f, 0x80000001u, 0, NULL, 0, NULL), f->out, "unknown request");
	/* A payload where none belongs, even a valid record. */
	assert_refused(ask(f, HAL_PS_REBOOT, (uint32_t)len, buf, len, NULL), f->out,
	               "takes no payload");
	assert_refused(ask(f, HAL_PS_ID_ERASE, 1, "x", 1, NULL), f->out, "takes no payload");
	/* Records: empty, undecodable, decodable but unusable, too large. */
	assert_refused(ask(f, HAL_PS_ID_STORE, 0, NULL, 0, NULL), f->out, "0 bytes");
	assert_refused(ask(f, HAL_PS_ID_STORE, 4, "\xff\xff\xff\xff", 4, NULL), f->out,
	               "does not decode");
	rec.version = IDSTORE_RECORD_VERSION;
	len = kma__v1__identity_record__pack(&rec, buf); /* no node ID */
	assert_refused(ask(f, HAL_PS_ID_STORE, (uint32_t)len, buf, len, NULL), f->out,
	               "no node ID");
	big = calloc(1, IDSTORE_MAX + 1);
	assert_non_null(big);
	assert_refused(ask(f, HAL_PS_ID_STORE, IDSTORE_MAX + 1, big, IDSTORE_MAX + 1, NULL), f->out,
	               "bytes (1 to");
	free(big);

	/* None of it touched the hardware or the identity. */
	assert_false(record_exists(f));
	assert_int_equal(access(tu_path((char[PATH_MAX]){0}, f->root, "reboots"), F_OK), -1);
}

/* In the split child: a failed check ends it with the line number as exit status. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "test_privsep: line %d: %s\n", __LINE__, #cond);           \
			_exit(__LINE__ % 250 + 1);                                                 \
		}                                                                                  \
	} while (0)

/* The agent's side after the split, as "nobody". Exits 0 when everything held. */
static void __attribute__((noreturn)) split_child(struct fixture *f)
{
	static const char *const own[] = {"directive", NULL};
	Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT, *back = NULL;
	char path[PATH_MAX], own_path[PATH_MAX];
	struct hal_hwid id;
	struct hal_health health;
	struct hal_privsep_answer a;
	struct stat st;
	struct pollfd pfd;
	int sock, life;
	uint8_t frame[16];
	ssize_t n;

	tu_write(f->state, "directive", "old record written as root\n");
	CHECK(hal_privsep_split(&f->hal, "nobody", own) == HAL_OK);
	CHECK(getuid() != 0 && geteuid() != 0 && getgid() != 0);
	CHECK(setuid(0) < 0);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	CHECK(strcmp(f->hal.ops->name, "sim") == 0);

	/* Through the helper. */
	CHECK(hal_read_hwid(&f->hal, &id) == HAL_OK && strcmp(id.board_serial, "BSN1") == 0);
	CHECK(hal_health_check(&f->hal, &health) == HAL_OK && health.healthy);
	rec.version = IDSTORE_RECORD_VERSION;
	rec.node_id = "a-kma02";
	rec.key_der.data = (uint8_t *)"secret";
	rec.key_der.len = 6;
	CHECK(hal_identity_store(&f->hal, &rec) == HAL_OK);
	CHECK(hal_identity_load(&f->hal, &back, NULL) == HAL_OK);
	CHECK(strcmp(back->node_id, "a-kma02") == 0);
	kma__v1__identity_record__free_unpacked(back, NULL);

	/* Not by itself: the record is root's, 0600, in a sticky directory. */
	tu_path(path, f->state, IDSTORE_FILE);
	CHECK(stat(path, &st) == 0 && st.st_uid == 0 && (st.st_mode & 0777) == 0600);
	CHECK(open(path, O_RDONLY) < 0 && errno == EACCES);
	CHECK(unlink(path) < 0 && errno == EPERM);
	CHECK(rename(path, tu_path(own_path, f->state, "stolen")) < 0 && errno == EPERM);
	CHECK(stat(f->state, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 01770);
	/* Its own files it may replace, the old one included. */
	CHECK(fileio_write_atomic(tu_path(own_path, f->state, "directive"), NULL, "x", 1, 0600) ==
	      0);
	CHECK(fileio_write_atomic(tu_path(own_path, f->state, "mesh.json"), NULL, "{}", 2, 0600) ==
	      0);
	/* A link planted under the helper's temp name is not written through. */
	CHECK(symlink(own_path, tu_path(path, f->state, IDSTORE_TEMP)) == 0);
	CHECK(hal_identity_store(&f->hal, &rec) == HAL_OK);
	CHECK(stat(own_path, &st) == 0 && st.st_size == 2 && st.st_uid != 0);

	/* A hostile frame on the channel: refused, and the helper goes on. */
	CHECK(sscanf(getenv(HAL_PRIVSEP_ENV), "%d,%d", &sock, &life) == 2);
	memset(frame, 0xa5, sizeof(frame));
	CHECK(send(sock, frame, sizeof(frame), 0) == (ssize_t)sizeof(frame));
	n = recv(sock, f->out, HAL_PRIVSEP_MSG_MAX, 0);
	CHECK(n >= (ssize_t)sizeof(a));
	memcpy(&a, f->out, sizeof(a));
	CHECK(a.status == HAL_ERR_INVALID);
	CHECK(hal_identity_erase(&f->hal) == HAL_OK);
	CHECK(hal_identity_load(&f->hal, &back, NULL) == HAL_ERR_NOT_FOUND);

	/* The lifeline stays quiet while the helper lives. */
	pfd.fd = hal_privsep_lifeline();
	pfd.events = POLLIN;
	CHECK(pfd.fd == life && poll(&pfd, 1, 0) == 0);
	_exit(0);
}

static void test_split_as_root(void **state)
{
	struct fixture *f = *state;
	int status, helpers = 0;
	bool reaper;
	pid_t pid, w;

	if (geteuid() != 0 || !getpwnam("nobody")) {
		print_message("needs root and the user nobody\n");
		skip();
	}
	/*
	 * The helper, a grandchild, comes back to us when the agent's side exits (not under
	 * qemu-user, which has no subreapers: there only the agent's side is checked).
	 */
	reaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		split_child(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	if (!reaper)
		return;
	/* The helper saw its channel close and exited cleanly. */
	while ((w = waitpid(-1, &status, 0)) > 0) {
		helpers++;
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(helpers, 1);
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_serves_each_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_malformed_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_as_root, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
