/*
 * The version follow-up probes (agent/verscan.c) against a scripted peer on loopback, in one
 * thread: the peer reads each whole hello, tells which version it offers, and answers as its
 * script says for that version. Checks the answer kept for each version, the order and
 * number of connections, and that a refused connection ends the scan. No sleeps: the loop
 * waits on the descriptors, and the only deadline that must pass is one nobody answers.
 */

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "classify.h"
#include "verscan.h"

enum act {
	ACT_ACCEPT,    /* a ServerHello choosing the version offered */
	ACT_DOWNGRADE, /* a ServerHello choosing TLS 1.0 */
	ACT_ALERT40,
	ACT_ALERT70,
	ACT_CLOSE,  /* FIN after reading the hello */
	ACT_RESET,  /* RST after reading the hello */
	ACT_SILENT, /* reads, never answers */
	ACT_HTTP,   /* answers in HTTP */
};

struct peer {
	int lfd, cfd;
	struct sockaddr_in addr;
	enum act script[TLSHELLO_N]; /* by the version offered */
	unsigned char hello[TLSHELLO_HELLO_MAX];
	size_t hello_len;
	bool answered;
	unsigned offered[8]; /* the version of each connection, in order */
	unsigned n;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void peer_listen(struct peer *p)
{
	socklen_t len = sizeof(p->addr);

	memset(p, 0, sizeof(*p));
	p->cfd = -1;
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->lfd >= 0);
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&p->addr, sizeof(p->addr)), 0);
	assert_int_equal(listen(p->lfd, 8), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&p->addr, &len), 0);
}

static void peer_close(struct peer *p)
{
	if (p->cfd >= 0)
		close(p->cfd);
	if (p->lfd >= 0)
		close(p->lfd);
	p->cfd = p->lfd = -1;
}

static void send_all(int fd, const void *b, size_t n)
{
	assert_int_equal(send(fd, b, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* A ServerHello record choosing version (1.3 the RFC 8446 way). */
static void send_server_hello(int fd, unsigned version)
{
	unsigned char b[128];
	size_t n = 0, msg;

	b[n++] = 22, b[n++] = 3, b[n++] = 3, n += 2;
	msg = n;
	b[n++] = 2, n += 3;
	b[n++] = 3, b[n++] = version == TLSHELLO_TLS13 ? 3 : (unsigned char)version;
	memset(b + n, 0x42, 32), n += 32;
	b[n++] = 0;                   /* session ID */
	b[n++] = 0xc0, b[n++] = 0x2f; /* suite */
	b[n++] = 0;
	if (version == TLSHELLO_TLS13) {
		static const unsigned char sv[] = {0, 6, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};

		memcpy(b + n, sv, sizeof(sv));
		n += sizeof(sv);
	}
	b[3] = 0, b[4] = (unsigned char)(n - 5);
	b[msg + 1] = 0, b[msg + 2] = 0, b[msg + 3] = (unsigned char)(n - msg - 4);
	send_all(fd, b, n);
}

/* The whole hello has arrived: which version it offers, and the scripted answer. */
static void peer_answer(struct peer *p)
{
	static const unsigned char alert40[] = {21, 3, 3, 0, 2, 2, 40};
	static const unsigned char alert70[] = {21, 3, 3, 0, 2, 2, 70};
	static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	unsigned v = classify_hello_offers_tls12(p->hello + 5, p->hello_len - 5) == 0
	                 ? TLSHELLO_TLS13
	                 : (unsigned)p->hello[9] << 8 | p->hello[10];
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_true(v >= TLSHELLO_TLS10 && v <= TLSHELLO_TLS13);
	assert_true(p->n < sizeof(p->offered) / sizeof(p->offered[0]));
	p->offered[p->n++] = v;
	p->answered = true;
	switch (p->script[v - TLSHELLO_TLS10]) {
	case ACT_ACCEPT:
		send_server_hello(p->cfd, v);
		break;
	case ACT_DOWNGRADE:
		send_server_hello(p->cfd, TLSHELLO_TLS10);
		break;
	case ACT_ALERT40:
		send_all(p->cfd, alert40, sizeof(alert40));
		break;
	case ACT_ALERT70:
		send_all(p->cfd, alert70, sizeof(alert70));
		break;
	case ACT_CLOSE:
		close(p->cfd);
		p->cfd = -1;
		break;
	case ACT_RESET:
		setsockopt(p->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(p->cfd);
		p->cfd = -1;
		break;
	case ACT_SILENT:
		break;
	case ACT_HTTP:
		send_all(p->cfd, http, sizeof(http) - 1);
		break;
	}
}

static void peer_read(struct peer *p)
{
	ssize_t n = recv(p->cfd, p->hello + p->hello_len, sizeof(p->hello) - p->hello_len, 0);

	if (n <= 0) { /* the scan moved on: done with this connection */
		close(p->cfd);
		p->cfd = -1;
		return;
	}
	p->hello_len += (size_t)n;
	if (!p->answered && p->hello_len >= 5 &&
	    p->hello_len == 5 + ((size_t)p->hello[3] << 8 | p->hello[4]))
		peer_answer(p);
}

/* Runs the scan of versions against p to its end (a generous bound on the whole). */
static void run(struct verscan *v, struct peer *p, const struct sockaddr *to, socklen_t to_len,
                unsigned versions, uint32_t timeout_ms)
{
	uint64_t limit = now_ms() + 30000;
	enum verscan_wait w;

	verscan_init(v);
	verscan_start(v, to, to_len, versions, timeout_ms, NULL, NULL);
	w = verscan_step(v, now_ms());
	while (w != VERSCAN_DONE) {
		struct pollfd f[3] = {
		    {.fd = verscan_fd(v), .events = w == VERSCAN_READ ? POLLIN : POLLOUT},
		    {.fd = p ? p->lfd : -1, .events = POLLIN},
		    {.fd = p ? p->cfd : -1, .events = POLLIN},
		};
		uint64_t now = now_ms(), dl = verscan_deadline(v);

		assert_true(now < limit);
		poll(f, 3, dl > now ? (int)(dl - now) : 0);
		if (p && f[1].revents & POLLIN) {
			if (p->cfd >= 0)
				close(p->cfd);
			p->cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
			assert_true(p->cfd >= 0);
			p->hello_len = 0;
			p->answered = false;
		}
		if (p && p->cfd >= 0 && f[2].fd == p->cfd && f[2].revents)
			peer_read(p);
		w = verscan_step(v, now_ms());
	}
	assert_int_equal(verscan_fd(v), -1);
}

static void expect(const struct verscan *v, unsigned version, enum verscan_answer answer, int alert,
                   unsigned chosen)
{
	const struct verscan_result *r = &v->result[version - TLSHELLO_TLS10];

	if (r->answer != answer || r->alert != alert || r->version != chosen)
		fail_msg("%s: %s alert %d chose %#x, want %s alert %d chose %#x",
		         tlshello_version_name(version), verscan_answer_name(r->answer), r->alert,
		         r->version, verscan_answer_name(answer), alert, chosen);
}

/* An OpenSSL server limited to TLS 1.0 and 1.1, as it answers our hellos. */
static void test_old_peer(void **state)
{
	struct peer p;
	struct verscan v;

	(void)state;
	peer_listen(&p);
	p.script[0] = ACT_ACCEPT;
	p.script[1] = ACT_ACCEPT;
	p.script[2] = ACT_DOWNGRADE;
	p.script[3] = ACT_ALERT70;
	run(&v, &p, (struct sockaddr *)&p.addr, sizeof(p.addr), TLSHELLO_ALL, 10000);
	expect(&v, TLSHELLO_TLS10, VERSCAN_ACCEPTED, -1, TLSHELLO_TLS10);
	expect(&v, TLSHELLO_TLS11, VERSCAN_ACCEPTED, -1, TLSHELLO_TLS11);
	expect(&v, TLSHELLO_TLS12, VERSCAN_OTHER_VERSION, -1, TLSHELLO_TLS10);
	expect(&v, TLSHELLO_TLS13, VERSCAN_ALERT, 70, 0);
	assert_int_equal(verscan_accepted(&v),
	                 TLSHELLO_BIT(TLSHELLO_TLS10) | TLSHELLO_BIT(TLSHELLO_TLS11));
	assert_int_equal(verscan_refused(&v),
	                 TLSHELLO_BIT(TLSHELLO_TLS12) | TLSHELLO_BIT(TLSHELLO_TLS13));
	/* one connection per version, oldest first */
	assert_int_equal(p.n, 4);
	assert_int_equal(v.connections, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(p.offered[i], TLSHELLO_VERSION(i));
	verscan_free(&v);
	peer_close(&p);
}

/* Every way of saying no, and of not answering at all. */
static void test_refusals(void **state)
{
	struct peer p;
	struct verscan v;

	(void)state;
	peer_listen(&p);
	p.script[0] = ACT_CLOSE;
	p.script[1] = ACT_RESET;
	p.script[2] = ACT_ALERT40;
	p.script[3] = ACT_HTTP;
	run(&v, &p, (struct sockaddr *)&p.addr, sizeof(p.addr), TLSHELLO_ALL, 10000);
	expect(&v, TLSHELLO_TLS10, VERSCAN_CLOSED, -1, 0);
	expect(&v, TLSHELLO_TLS11, VERSCAN_RESET, -1, 0);
	expect(&v, TLSHELLO_TLS12, VERSCAN_ALERT, 40, 0);
	expect(&v, TLSHELLO_TLS13, VERSCAN_NOT_TLS, -1, 0);
	assert_int_equal(verscan_accepted(&v), 0);
	/* an answer that is not TLS is no proof of refusal */
	assert_int_equal(verscan_refused(&v), TLSHELLO_ALL & ~TLSHELLO_BIT(TLSHELLO_TLS13));
	verscan_free(&v);
	peer_close(&p);
}

/* Only the versions asked; one that gets no answer ends at its own deadline. */
static void test_subset_and_timeout(void **state)
{
	struct peer p;
	struct verscan v;
	uint64_t t0;

	(void)state;
	peer_listen(&p);
	p.script[2] = ACT_SILENT;
	p.script[3] = ACT_ACCEPT;
	t0 = now_ms();
	run(&v, &p, (struct sockaddr *)&p.addr, sizeof(p.addr),
	    TLSHELLO_BIT(TLSHELLO_TLS12) | TLSHELLO_BIT(TLSHELLO_TLS13), 200);
	assert_true(now_ms() - t0 >= 200);
	expect(&v, TLSHELLO_TLS10, VERSCAN_NOT_RUN, -1, 0);
	expect(&v, TLSHELLO_TLS11, VERSCAN_NOT_RUN, -1, 0);
	expect(&v, TLSHELLO_TLS12, VERSCAN_TIMEOUT, -1, 0);
	expect(&v, TLSHELLO_TLS13, VERSCAN_ACCEPTED, -1, TLSHELLO_TLS13);
	assert_int_equal(p.n, 2);
	assert_int_equal(verscan_refused(&v), 0);
	verscan_free(&v);
	peer_close(&p);
}

/* Nothing listens: the first connection fails and the scan stops there. */
static void test_refused_connection(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	struct verscan v;
	/* Bound and not listening: the port stays ours, and connections to it are refused. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	run(&v, NULL, (struct sockaddr *)&addr, sizeof(addr), TLSHELLO_ALL, 10000);
	expect(&v, TLSHELLO_TLS10, VERSCAN_NO_CONNECT, -1, 0);
	for (unsigned i = 1; i < TLSHELLO_N; i++)
		expect(&v, TLSHELLO_VERSION(i), VERSCAN_NOT_RUN, -1, 0);
	assert_int_equal(v.connections, 1);
	assert_int_equal(verscan_accepted(&v) | verscan_refused(&v), 0);
	verscan_free(&v);
	close(fd);
}

/* Freed in the middle of a connection: closes it; freeing again, or NULL, is harmless. */
static void test_free_midway(void **state)
{
	struct peer p;
	struct verscan v;

	(void)state;
	peer_listen(&p);
	verscan_init(&v);
	verscan_free(&v);
	verscan_start(&v, (struct sockaddr *)&p.addr, sizeof(p.addr), TLSHELLO_ALL, 10000, NULL,
	              NULL);
	assert_int_not_equal(verscan_step(&v, now_ms()), VERSCAN_DONE);
	assert_true(verscan_fd(&v) >= 0);
	verscan_free(&v);
	assert_int_equal(verscan_fd(&v), -1);
	verscan_free(&v);
	verscan_free(NULL);
	peer_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_old_peer),           cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_subset_and_timeout), cmocka_unit_test(test_refused_connection),
	    cmocka_unit_test(test_free_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
