#include "verscan.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

void verscan_init(struct verscan *v)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	for (unsigned i = 0; i < TLSHELLO_N; i++)
		v->result[i].alert = -1;
}

void verscan_start(struct verscan *v, const struct sockaddr *addr, socklen_t addr_len,
                   unsigned versions, uint32_t timeout_ms,
                   int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
	verscan_init(v);
	if (addr_len > sizeof(v->addr))
		return;
	memcpy(&v->addr, addr, addr_len);
	v->addr_len = addr_len;
	v->timeout_ms = timeout_ms;
	v->f_rng = f_rng;
	v->p_rng = p_rng;
	v->todo = versions & TLSHELLO_ALL;
}

/* The answer for the version being asked; ends its connection (and the scan if need be). */
static void conclude(struct verscan *v, enum verscan_answer answer, int alert, unsigned version)
{
	struct verscan_result *r = &v->result[v->cur - TLSHELLO_TLS10];

	r->answer = answer;
	r->alert = answer == VERSCAN_ALERT ? alert : -1;
	r->version = version;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->cur = 0;
	if (answer == VERSCAN_NO_CONNECT)
		v->todo = 0;
}

/* Opens the connection for the next version; false when there is none left. */
static bool next(struct verscan *v, uint64_t now)
{
	unsigned char random[32] = {0};

	if (!v->todo)
		return false;
	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		if (v->todo & TLSHELLO_BIT(TLSHELLO_VERSION(i))) {
			v->cur = TLSHELLO_VERSION(i);
			break;
		}
	}
	v->todo &= ~TLSHELLO_BIT(v->cur);
	v->deadline_ms = now + v->timeout_ms;
	v->in_len = 0;
	v->out_sent = 0;
	/* A failed RNG leaves zeros: the random only has to be there, nobody relies on it. */
	if (v->f_rng && v->f_rng(v->p_rng, random, sizeof(random)) != 0)
		memset(random, 0, sizeof(random));
	v->out_len = tlshello_build(v->cur, random, v->out, sizeof(v->out));
	v->connections++;
	v->fd = socket(v->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->fd < 0 || v->out_len == 0) {
		conclude(v, VERSCAN_NO_CONNECT, -1, 0);
		return true;
	}
	v->connecting = true;
	if (connect(v->fd, (const struct sockaddr *)&v->addr, v->addr_len) == 0)
		v->connecting = false;
	else if (errno != EINPROGRESS)
		conclude(v, VERSCAN_NO_CONNECT, -1, 0);
	return true;
}

/* Reads what the peer sent so far; returns what to wait for, DONE once concluded. */
static enum verscan_wait receive(struct verscan *v)
{
	for (;;) {
		struct tlshello_answer a;
		enum tlshello_kind kind;
		ssize_t n = recv(v->fd, v->in + v->in_len, sizeof(v->in) - v->in_len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return VERSCAN_READ;
		if (n < 0) {
			conclude(v, VERSCAN_RESET, -1, 0);
			return VERSCAN_DONE;
		}
		if (n == 0) {
			conclude(v, VERSCAN_CLOSED, -1, 0);
			return VERSCAN_DONE;
		}
		v->in_len += (size_t)n;
		kind = tlshello_parse_answer(v->in, v->in_len, &a);
		if (kind == TLSHELLO_MORE && v->in_len < sizeof(v->in))
			continue;
		switch (kind) {
		case TLSHELLO_SERVER_HELLO:
			conclude(v, a.version == v->cur ? VERSCAN_ACCEPTED : VERSCAN_OTHER_VERSION,
			         -1, a.version);
			return VERSCAN_DONE;
		case TLSHELLO_ALERT:
			conclude(v, VERSCAN_ALERT, a.alert, 0);
			return VERSCAN_DONE;
		default: /* not an answer, or one too large to judge */
			conclude(v, VERSCAN_NOT_TLS, -1, 0);
			return VERSCAN_DONE;
		}
	}
}

/* One connection's progress: what to wait for, DONE once it concluded. */
static enum verscan_wait advance(struct verscan *v, uint64_t now)
{
	if (now >= v->deadline_ms) {
		conclude(v, v->connecting ? VERSCAN_NO_CONNECT : VERSCAN_TIMEOUT, -1, 0);
		return VERSCAN_DONE;
	}
	if (v->connecting) {
		struct pollfd pfd = {.fd = v->fd, .events = POLLOUT};
		int err = 0;
		socklen_t len = sizeof(err);

		if (poll(&pfd, 1, 0) <= 0)
			return VERSCAN_WRITE;
		if (getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conclude(v, VERSCAN_NO_CONNECT, -1, 0);
			return VERSCAN_DONE;
		}
		v->connecting = false;
	}
	while (v->out_sent < v->out_len) {
		ssize_t n =
		    send(v->fd, v->out + v->out_sent, v->out_len - v->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return VERSCAN_WRITE;
		if (n < 0) {
			/* Gone before it heard the whole hello (ECONNRESET, EPIPE). */
			conclude(v, VERSCAN_RESET, -1, 0);
			return VERSCAN_DONE;
		}
		v->out_sent += (size_t)n;
	}
	return receive(v);
}

enum verscan_wait verscan_step(struct verscan *v, uint64_t now_ms)
{
	for (;;) {
		enum verscan_wait w;

		if (v->fd < 0 && !next(v, now_ms))
			return VERSCAN_DONE;
		if (v->fd < 0)
			continue; /* concluded at once (no connection): next or done */
		w = advance(v, now_ms);
		if (w != VERSCAN_DONE)
			return w;
	}
}

int verscan_fd(const struct verscan *v)
{
	return v->fd;
}

uint64_t verscan_deadline(const struct verscan *v)
{
	return v->deadline_ms;
}

unsigned verscan_accepted(const struct verscan *v)
{
	unsigned mask = 0;

	for (unsigned i = 0; i < TLSHELLO_N; i++)
		if (v->result[i].answer == VERSCAN_ACCEPTED)
			mask |= TLSHELLO_BIT(TLSHELLO_VERSION(i));
	return mask;
}

unsigned verscan_refused(const struct verscan *v)
{
	unsigned mask = 0;

	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		switch (v->result[i].answer) {
		case VERSCAN_OTHER_VERSION:
		case VERSCAN_ALERT:
		case VERSCAN_CLOSED:
		case VERSCAN_RESET:
			mask |= TLSHELLO_BIT(TLSHELLO_VERSION(i));
			break;
		default:
			break;
		}
	}
	return mask;
}

const char *verscan_answer_name(enum verscan_answer a)
{
	switch (a) {
	case VERSCAN_NOT_RUN:
		return "not_run";
	case VERSCAN_ACCEPTED:
		return "accepted";
	case VERSCAN_OTHER_VERSION:
		return "other_version";
	case VERSCAN_ALERT:
		return "alert";
	case VERSCAN_CLOSED:
		return "closed";
	case VERSCAN_RESET:
		return "reset";
	case VERSCAN_TIMEOUT:
		return "timeout";
	case VERSCAN_NOT_TLS:
		return "not_tls";
	case VERSCAN_NO_CONNECT:
		return "no_connect";
	}
	return "unknown";
}

void verscan_free(struct verscan *v)
{
	if (!v)
		return;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->todo = 0;
	v->cur = 0;
}
