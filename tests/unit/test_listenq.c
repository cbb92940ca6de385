/*
 * The listen queue's bookkeeping: /proc/net/netstat's TcpExt counters as the kernel writes
 * them, and the agent's "dropped in the last minute" window over its samples.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "listenq.h"
#include "listenwatch.h"

static void test_netstat(void **state)
{
	/* The first fields of a Linux 6.1 /proc/net/netstat, ListenOverflows and ListenDrops
	 * in their place, then IpExt. */
	static const char text[] =
	    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled "
	    "RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled "
	    "TWKilled PAWSActive PAWSEstab DelayedACKs DelayedACKLocked DelayedACKLost "
	    "ListenOverflows ListenDrops TCPHPHits\n"
	    "TcpExt: 0 0 0 0 0 0 0 0 0 0 94295 32 0 0 2 1200 3 9 4211 4213 77\n"
	    "IpExt: InNoRoutes InTruncatedPkts\n"
	    "IpExt: 0 0\n";
	uint64_t o = 0, d = 0;

	(void)state;
	assert_int_equal(listenq_parse_netstat(text, &o, &d), 0);
	assert_int_equal(o, 4211);
	assert_int_equal(d, 4213);
	assert_int_equal(listenq_parse_netstat("IpExt: a\nIpExt: 1\n", &o, &d), -1);
	assert_int_equal(listenq_parse_netstat("TcpExt: ListenOverflows\nTcpExt: x\n", &o, &d), -1);
	assert_int_equal(listenq_parse_netstat("TcpExt: ListenOverflows ListenDrops\n", &o, &d),
	                 -1);
}

static void test_window(void **state)
{
	static struct listenwatch w;
	struct hal_listen_queue q = {
	    .port = 5696, .listening = true, .queued = 129, .backlog = 128, .counters = true};
	char text[160];

	(void)state;
	for (int64_t t = 0; t <= 120; t += 10) {
		listenwatch_begin(&w);
		q.drops = (uint64_t)t * 70; /* 70 a second */
		listenwatch_add(&w, 1000 + t, "key_service", &q);
		listenwatch_add(&w, 1000 + t, "mesh", &q); /* same round: one sample */
	}
	assert_int_equal(w.n_ports, 2);
	assert_int_equal(w.window_s, 60);
	assert_int_equal(w.recent, 4200);
	listenwatch_describe(&w.ports[0], w.recent, w.window_s, text, sizeof(text));
	assert_string_equal(text, "key service on port 5696: accept queue 129/128, 4200 "
	                          "connections dropped in the last 60 s");
	/* A counter that went back (a reboot) starts again rather than underflowing. */
	listenwatch_begin(&w);
	q.drops = 5;
	listenwatch_add(&w, 1130, "key_service", &q);
	assert_true(w.recent < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_netstat),
	    cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
