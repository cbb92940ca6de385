#include "listenq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 10 /* include/net/tcp_states.h: TCP_LISTEN */
#define NETSTAT_MAX      (64 * 1024)

/* One family's listeners on port, added into out; 0 or an errno. */
static int diag_family(int fd, int family, unsigned port, struct hal_listen_queue *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	/* Aligned for the netlink headers read out of it. */
	static __thread long buf[8192 / sizeof(long)];

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (unsigned char)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1u << TCP_LISTEN_STATE;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		return errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0)
			return errno == EINTR ? EIO : errno;
		if (n == 0)
			return EIO;
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error
				           ? -e->error
				           : EIO;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = NLMSG_DATA(h);
			if (ntohs(m->id.idiag_sport) != port)
				continue;
			out->listening = true;
			out->queued += m->idiag_rqueue;
			out->backlog += m->idiag_wqueue;
		}
	}
}

/*
 * A /proc file says its size is 0: read until EOF, up to NETSTAT_MAX, NUL-terminated. (A
 * test's root may put a plain file there; both read the same way.)
 */
static int read_proc(const char *path, unsigned char **out, size_t *len)
{
	unsigned char *buf = malloc(NETSTAT_MAX + 1);
	int fd, e = 0;

	*out = NULL;
	*len = 0;
	if (!buf)
		return ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		free(buf);
		return e;
	}
	while (*len < NETSTAT_MAX) {
		ssize_t n = read(fd, buf + *len, NETSTAT_MAX - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	if (e) {
		free(buf);
		return e;
	}
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

int listenq_parse_netstat(const char *text, uint64_t *overflows, uint64_t *drops)
{
	const char *names = strstr(text, "TcpExt:"), *values;
	int found = 0;

	if (!names)
		return -1;
	values = strchr(names, '\n');
	if (!values || strncmp(values + 1, "TcpExt:", 7) != 0)
		return -1;
	values += 8;
	names += 7;
	/* The n-th name goes with the n-th value, on the next line. */
	while (*names && *names != '\n' && *values && *values != '\n') {
		size_t nl, vl;
		char *end;
		unsigned long long v;

		names += strspn(names, " ");
		values += strspn(values, " ");
		nl = strcspn(names, " \n");
		vl = strcspn(values, " \n");
		if (!nl || !vl)
			break;
		v = strtoull(values, &end, 10);
		if (end != values + vl)
			return -1;
		if (nl == 15 && strncmp(names, "ListenOverflows", nl) == 0) {
			*overflows = v;
			found |= 1;
		} else if (nl == 11 && strncmp(names, "ListenDrops", nl) == 0) {
			*drops = v;
			found |= 2;
		}
		names += nl;
		values += vl;
	}
	return found == 3 ? 0 : -1;
}

enum hal_status listenq_measure(unsigned port, const char *netstat, struct hal_listen_queue *out,
                                char *err, size_t size)
{
	struct timeval tv = {.tv_sec = 1};
	unsigned char *text = NULL;
	size_t len = 0;
	int fd, rc = 0, e;

	memset(out, 0, sizeof(*out));
	out->port = port;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		snprintf(err, size, "sock_diag netlink: %s", strerror(errno));
		return HAL_ERR_UNSUPPORTED;
	}
	/* The kernel answers at once; never hang the loop on it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = diag_family(fd, AF_INET, port, out);
	if (!rc)
		rc = diag_family(fd, AF_INET6, port, out);
	close(fd);
	if (rc) {
		snprintf(err, size, "sock_diag of TCP listeners: %s", strerror(rc));
		return HAL_ERR_IO;
	}
	e = read_proc(netstat, &text, &len);
	if (e || listenq_parse_netstat((const char *)text, &out->overflows, &out->drops) != 0) {
		snprintf(err, size, "%s: %s", netstat,
		         e ? strerror(e) : "no TcpExt ListenOverflows");
		free(text);
		return HAL_ERR_IO;
	}
	out->counters = true;
	free(text);
	return HAL_OK;
}
