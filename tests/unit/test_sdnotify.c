/*
 * The systemd notification protocol as the daemons speak it: a test plays systemd, binding
 * a unix datagram socket (a path, then an abstract name), pointing $NOTIFY_SOCKET at it
 * and reading what arrives: READY=1, WATCHDOG=1 from the agent's event loop and from
 * kma-coord's paced tick loop, STOPPING=1.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "sdnotify.h"
#include "sdnotify_ev.h"

struct fake_systemd {
	int fd;
	char dir[64];
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* $NOTIFY_SOCKET */
};

/* Binds the socket systemd would, at a path (abstract false) or an abstract name. */
static void fake_bind(struct fake_systemd *s, bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s->fd >= 0);
	if (abstract) {
		snprintf(s->name, sizeof(s->name), "@kma-test-sdnotify-%ld", (long)getpid());
	} else {
		snprintf(s->dir, sizeof(s->dir), "/tmp/kma-sdnotify-XXXXXX");
		assert_non_null(mkdtemp(s->dir));
		snprintf(s->name, sizeof(s->name), "%s/notify", s->dir);
	}
	memcpy(sa.sun_path, s->name, strlen(s->name));
	if (abstract)
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(s->name));
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", s->name, 1), 0);
}

static void fake_close(struct fake_systemd *s)
{
	close(s->fd);
	if (s->dir[0]) {
		char path[128];

		snprintf(path, sizeof(path), "%s/notify", s->dir);
		unlink(path);
		rmdir(s->dir);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* The next datagram, or "" when none is queued. */
static void fake_recv(struct fake_systemd *s, char *buf, size_t size)
{
	ssize_t n = recv(s->fd, buf, size - 1, 0);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
}

static void test_send_path(void **state)
{
	struct fake_systemd s;
	char buf[256];

	(void)state;
	fake_bind(&s, false);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_SENT);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	assert_int_equal(sdnotify_send("STATUS=two lines\nWATCHDOG=1"), SDNOTIFY_SENT);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS=two lines\nWATCHDOG=1");
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	fake_close(&s);
}

static void test_send_abstract(void **state)
{
	struct fake_systemd s;
	char buf[256];

	(void)state;
	fake_bind(&s, true);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_SENT);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	fake_close(&s);
}

static void test_send_without_systemd(void **state)
{
	char longname[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_NO_SOCKET);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_NO_SOCKET);
	/* Relative, bare '@', too long for sun_path, nobody listening: errors, no crash. */
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_ERR);
	setenv("NOTIFY_SOCKET", "@", 1);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_ERR);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_ERR);
	setenv("NOTIFY_SOCKET", "/nonexistent/kma-notify", 1);
	assert_int_equal(sdnotify_send("READY=1"), SDNOTIFY_ERR);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "90000000", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 90000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 90000000);
	/* Inherited from a parent that systemd watches: not ours to ping. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "12x", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

/* READY=1 at start, WATCHDOG=1 from the loop at half the interval, STOPPING=1 at the end. */
static void test_lifecycle(void **state)
{
	struct fake_systemd s;
	struct sdnotify_ev n = {0};
	struct event_base *base = event_base_new();
	struct timeval run = {.tv_sec = 0, .tv_usec = 350 * 1000};
	char buf[256];
	int pings = 0;

	(void)state;
	assert_non_null(base);
	fake_bind(&s, false);
	setenv("WATCHDOG_USEC", "200000", 1); /* a ping every 100 ms */
	assert_int_equal(sdnotify_ev_start(&n, base), 0);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=running");
	assert_int_equal(event_base_loopexit(base, &run), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	for (fake_recv(&s, buf, sizeof(buf)); buf[0]; fake_recv(&s, buf, sizeof(buf))) {
		assert_string_equal(buf, "WATCHDOG=1");
		pings++;
	}
	/* 3 in 350 ms; a slow emulator may fire fewer, never more. */
	assert_in_range(pings, 1, 3);
	sdnotify_ev_stop(&n, true);
	assert_null(n.ev_watchdog);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	sdnotify_ev_stop(&n, true); /* twice: nothing more */
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	fake_close(&s);
	event_base_free(base);
}

/* A re-exec says nothing on the way out; without a watchdog there is no timer. */
static void test_reexec_and_no_watchdog(void **state)
{
	struct fake_systemd s;
	struct sdnotify_ev n = {0};
	struct event_base *base = event_base_new();
	char buf[256];

	(void)state;
	assert_non_null(base);
	fake_bind(&s, true);
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(sdnotify_ev_start(&n, base), 0);
	assert_null(n.ev_watchdog);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=running");
	sdnotify_ev_stop(&n, false);
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	fake_close(&s);
	event_base_free(base);
}

/* kma-coord's loop: a ping when half the interval has passed, paced from the last one. */
static void test_watchdog_kick(void **state)
{
	struct fake_systemd s;
	struct sdnotify_watchdog w;
	char buf[256];

	(void)state;
	assert_int_equal(sdnotify_ping_every_usec(0), 0);
	assert_int_equal(sdnotify_ping_every_usec(1500), 1000);
	assert_int_equal(sdnotify_ping_every_usec(60000000), 30000000);
	fake_bind(&s, true);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "2000000", 1);
	sdnotify_watchdog_init(&w);
	assert_int_equal(w.every_us, 1000000);
	assert_true(sdnotify_watchdog_kick(&w, 5000000)); /* the first at once */
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "WATCHDOG=1");
	assert_false(sdnotify_watchdog_kick(&w, 5250000));
	assert_false(sdnotify_watchdog_kick(&w, 5999999));
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_true(sdnotify_watchdog_kick(&w, 9000000)); /* a late round: one ping, no burst */
	assert_false(sdnotify_watchdog_kick(&w, 9500000));
	assert_true(sdnotify_watchdog_kick(&w, 10000000));
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "WATCHDOG=1");
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "WATCHDOG=1");
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* Not watched: never a ping. */
	unsetenv("WATCHDOG_USEC");
	sdnotify_watchdog_init(&w);
	assert_false(sdnotify_watchdog_kick(&w, 5000000));
	fake_recv(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	fake_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send_path),
	    cmocka_unit_test(test_send_abstract),
	    cmocka_unit_test(test_send_without_systemd),
	    cmocka_unit_test(test_watchdog_usec),
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_reexec_and_no_watchdog),
	    cmocka_unit_test(test_watchdog_kick),
	};

	log_init("test_sdnotify", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
