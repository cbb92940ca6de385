#include "hal_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hal_priv.h"

/* How often a command whose output is still open (a daemon it left) is checked for exit. */
#define POLL_SLICE_MS 20

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* First non-empty line of what the command printed, trimmed. */
static void first_line(const char *raw, size_t len, char *out, size_t size)
{
	size_t i = 0;

	out[0] = '\0';
	while (i < len) {
		size_t start, end;

		while (i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r'))
			i++;
		start = i;
		while (i < len && raw[i] != '\n')
			i++;
		end = i;
		while (end > start &&
		       (raw[end - 1] == ' ' || raw[end - 1] == '\t' || raw[end - 1] == '\r'))
			end--;
		if (end > start) {
			snprintf(out, size, "%.*s", (int)(end - start), raw + start);
			hal_clean_id(out);
			return;
		}
		i++;
	}
}

static int split(char *line, char **argv)
{
	int argc = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == HAL_CMD_MAX_ARGS)
			return -1;
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	return argc;
}

static void record_status(struct hal_cmd_result *res, int status)
{
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->term_signal = WTERMSIG(status);
	}
}

static int wait_blocking(pid_t pid, int *status)
{
	pid_t w;

	do
		w = waitpid(pid, status, 0);
	while (w < 0 && errno == EINTR);
	return w < 0 ? errno : 0;
}

enum hal_status hal_cmd_run(struct hal *hal, const char *cmdline, unsigned timeout_s,
                            struct hal_cmd_result *res)
{
	enum hal_status ret = HAL_ERR_INVALID;
	char line[BOARD_TEXT_MAX];
	char *argv[HAL_CMD_MAX_ARGS + 1];
	char raw[1024];
	size_t raw_len = 0;
	int pfd[2] = {-1, -1};
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false, exited = false, eof = false;
	sigset_t none, all;
	int status = 0, rc, argc;
	int64_t deadline;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if (!cmdline || snprintf(line, sizeof(line), "%s", cmdline) >= (int)sizeof(line)) {
		hal_set_error(hal, 0, "command line missing or too long");
		goto exit;
	}
	argc = split(line, argv);
	if (argc <= 0) {
		if (argc)
			hal_set_error(hal, 0, "command '%s' has more than %d words", cmdline,
			              HAL_CMD_MAX_ARGS);
		else
			hal_set_error(hal, 0, "empty command line");
		goto exit;
	}

	ret = HAL_ERR_IO;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		hal_set_error(hal, errno, "pipe for %s", argv[0]);
		goto exit;
	}
	rc = posix_spawn_file_actions_init(&fa);
	fa_init = rc == 0;
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	if (!rc) {
		rc = posix_spawnattr_init(&attr);
		attr_init = rc == 0;
	}
	/*
	 * The agent's event loop may block or catch signals; the command starts clean, in a
	 * process group of its own so that a timeout kills whatever it started.
	 */
	sigemptyset(&none);
	sigfillset(&all);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (!rc)
		rc = posix_spawnattr_setflags(
		    &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	if (rc) {
		hal_set_error(hal, rc, "preparing to run %s", argv[0]);
		goto exit;
	}
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	if (rc) {
		pid = -1;
		hal_set_error(hal, rc, "cannot run %s", argv[0]);
		ret = HAL_ERR_COMMAND;
		goto exit;
	}
	close(pfd[1]);
	pfd[1] = -1;
	if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
		hal_set_error(hal, errno, "output of %s", argv[0]);
		goto exit;
	}

	deadline = now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int64_t left;

		/* Read first, so what a quick command printed is kept. */
		while (!eof) {
			char chunk[512];
			ssize_t n = read(pfd[0], chunk, sizeof(chunk));

			if (n > 0) {
				size_t keep = sizeof(raw) - raw_len;

				keep = (size_t)n < keep ? (size_t)n : keep;
				memcpy(raw + raw_len, chunk, keep);
				raw_len += keep;
				continue;
			}
			if (n == 0)
				eof = true;
			else if (errno != EINTR && errno != EAGAIN)
				eof = true; /* output lost; the exit status still counts */
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid) {
				exited = true;
			} else if (w < 0 && errno != EINTR) {
				hal_set_error(hal, errno, "waiting for %s", argv[0]);
				pid = -1;
				goto exit;
			}
		}
		/* Done when it exited; a daemon it left behind may keep the pipe open. */
		if (exited)
			break;
		left = deadline - now_ms();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			rc = wait_blocking(pid, &status);
			pid = -1;
			if (rc) {
				hal_set_error(hal, rc, "waiting for %s", argv[0]);
				goto exit;
			}
			res->timed_out = true;
			break;
		}
		if (left > POLL_SLICE_MS)
			left = POLL_SLICE_MS;
		/* After EOF there is nothing to wait on but the exit: a plain sleep. */
		if (poll(&p, eof ? 0 : 1, (int)left) < 0 && errno != EINTR) {
			hal_set_error(hal, errno, "poll on output of %s", argv[0]);
			goto exit;
		}
	}
	pid = -1;
	record_status(res, status);
	first_line(raw, raw_len, res->output, sizeof(res->output));
	ret = HAL_OK;
exit:
	if (pid > 0) {
		/* Failed while it was running: do not leave it behind. */
		kill(-pid, SIGKILL);
		(void)wait_blocking(pid, &status);
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	return ret;
}

void hal_cmd_describe(const struct hal_cmd_result *res, unsigned timeout_s, char *buf, size_t size)
{
	int n;

	if (res->timed_out)
		n = snprintf(buf, size, "timed out after %u s", timeout_s);
	else if (res->term_signal)
		n = snprintf(buf, size, "killed by signal %d", res->term_signal);
	else
		n = snprintf(buf, size, "exited with status %d", res->exit_code);
	if (res->output[0] && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ": %s", res->output);
}
