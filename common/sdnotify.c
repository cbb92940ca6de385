#include "sdnotify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

enum sdnotify_status sdnotify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len, msg_len = strlen(msg);
	socklen_t sa_len;
	ssize_t sent;
	int fd, err;

	if (!path || !path[0])
		return SDNOTIFY_NO_SOCKET;
	len = strlen(path);
	/* Absolute paths and abstract names only, as libsystemd accepts them. */
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sa.sun_path)) {
		errno = EINVAL;
		return SDNOTIFY_ERR;
	}
	/* Abstract names carry no terminating NUL: the address length says where they end. */
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return SDNOTIFY_ERR;
	sent = sendto(fd, msg, msg_len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, sa_len);
	err = errno;
	close(fd);
	if (sent < 0 || (size_t)sent != msg_len) {
		errno = sent < 0 ? err : EMSGSIZE;
		return SDNOTIFY_ERR;
	}
	return SDNOTIFY_SENT;
}

uint64_t sdnotify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !usec[0])
		return 0;
	/* The variables are inherited by children: only the process systemd meant pings. */
	if (pid && pid[0]) {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno || *end || v != (unsigned long long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end || usec[0] == '-')
		return 0;
	return (uint64_t)v;
}

void sdnotify_tell(const char *msg)
{
	if (sdnotify_send(msg) == SDNOTIFY_ERR)
		log_errno(LOG_LVL_WARN, errno,
		          "systemd notification '%s' not sent (NOTIFY_SOCKET=%s)", msg,
		          getenv("NOTIFY_SOCKET"));
}

uint64_t sdnotify_ping_every_usec(uint64_t usec)
{
	if (!usec)
		return 0;
	return usec < 2000 ? 1000 : usec / 2;
}

void sdnotify_watchdog_init(struct sdnotify_watchdog *w)
{
	w->every_us = sdnotify_ping_every_usec(sdnotify_watchdog_usec());
	w->next_us = 0;
}

bool sdnotify_watchdog_kick(struct sdnotify_watchdog *w, uint64_t now_us)
{
	if (!w->every_us || now_us < w->next_us)
		return false;
	sdnotify_tell("WATCHDOG=1");
	/* From now, not from when it was due: a late round does not bring a burst of pings. */
	w->next_us = now_us + w->every_us;
	return true;
}
