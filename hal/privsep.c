#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "fileio.h"
#include "hal_priv.h"
#include "idstore.h"
#include "log.h"

static const char *const req_names[HAL_PS_REQ_END] = {
    [HAL_PS_HWID] = "hwid",
    [HAL_PS_BOOT_ID] = "boot_id",
    [HAL_PS_ID_LOAD] = "identity_load",
    [HAL_PS_ID_STORE] = "identity_store",
    [HAL_PS_ID_ERASE] = "identity_erase",
    [HAL_PS_REBOOT] = "reboot",
    [HAL_PS_SERVICE_RESTART] = "service_restart",
    [HAL_PS_HEALTH] = "health_check",
};

/* --- the helper's side --- */

/* Writes the answer: header, hal->error unless st is HAL_OK, then data. */
static size_t put_answer(uint8_t *out, size_t out_size, enum hal_status st, const struct hal *hal,
                         const void *data, size_t data_len)
{
	struct hal_privsep_answer a = {.status = (int32_t)st, .errnum = hal->last_errno};
	size_t elen = st == HAL_OK ? 0 : strnlen(hal->error, sizeof(hal->error));

	if (sizeof(a) + data_len > out_size) /* cannot happen: MSG_MAX holds the largest */
		return put_answer(out, out_size, HAL_ERR_NOMEM, hal, NULL, 0);
	if (elen > out_size - sizeof(a) - data_len)
		elen = out_size - sizeof(a) - data_len;
	a.error_len = (uint32_t)elen;
	a.data_len = (uint32_t)data_len;
	memcpy(out, &a, sizeof(a));
	memcpy(out + sizeof(a), hal->error, elen);
	if (data_len)
		memcpy(out + sizeof(a) + elen, data, data_len);
	return sizeof(a) + elen + data_len;
}

static size_t refuse(struct hal *hal, uint8_t *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t refuse(struct hal *hal, uint8_t *out, size_t out_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hal->error, sizeof(hal->error), fmt, ap);
	va_end(ap);
	hal->last_errno = 0;
	log_warn("privileged helper: refused a request: %s", hal->error);
	return put_answer(out, out_size, HAL_ERR_INVALID, hal, NULL, 0);
}

static size_t serve_load(struct hal *hal, uint8_t *out, size_t out_size)
{
	Kma__V1__IdentityRecord *rec = NULL;
	struct hal_load_info info;
	enum hal_status st = hal_identity_load(hal, &rec, &info);
	uint8_t *data = NULL;
	size_t len = 0, plen, ret;

	if (st == HAL_OK) {
		plen = kma__v1__identity_record__get_packed_size(rec);
		len = sizeof(info) + plen;
		data = len <= out_size - sizeof(struct hal_privsep_answer) ? malloc(len) : NULL;
		if (!data) {
			hal_set_error(hal, 0, "identity record of %zu bytes does not fit an answer",
			              plen);
			st = HAL_ERR_NOMEM;
			len = 0;
		} else {
			memcpy(data, &info, sizeof(info));
			kma__v1__identity_record__pack(rec, data + sizeof(info));
		}
		kma__v1__identity_record__free_unpacked(rec, NULL);
	}
	ret = put_answer(out, out_size, st, hal, data, len);
	if (data)
		mbedtls_platform_zeroize(data, len); /* holds the private key */
	free(data);
	return ret;
}

static size_t serve_store(struct hal *hal, const uint8_t *payload, size_t len, uint8_t *out,
                          size_t out_size)
{
	Kma__V1__IdentityRecord *rec;
	enum hal_status st;

	if (len == 0 || len > IDSTORE_MAX)
		return refuse(hal, out, out_size, "identity record of %zu bytes (1 to %d)", len,
		              IDSTORE_MAX);
	rec = kma__v1__identity_record__unpack(NULL, len, payload);
	if (!rec)
		return refuse(hal, out, out_size, "identity record of %zu bytes does not decode",
		              len);
	st = hal_identity_store(hal, rec); /* checks the record's content before writing */
	kma__v1__identity_record__free_unpacked(rec, NULL);
	if (st == HAL_ERR_INVALID)
		log_warn("privileged helper: refused to store an identity record: %s", hal->error);
	return put_answer(out, out_size, st, hal, NULL, 0);
}

size_t hal_privsep_serve_one(struct hal *hal, const uint8_t *msg, size_t len, uint8_t *out,
                             size_t out_size)
{
	struct hal_privsep_hdr h;
	const uint8_t *payload = msg + sizeof(h);
	struct hal_hwid hwid;
	struct hal_health health;
	char boot[HAL_BOOT_ID];
	enum hal_status st;

	hal->error[0] = '\0';
	hal->last_errno = 0;
	if (len < sizeof(h))
		return refuse(hal, out, out_size, "request of %zu bytes is shorter than its header",
		              len);
	memcpy(&h, msg, sizeof(h));
	if (h.len != len - sizeof(h))
		return refuse(hal, out, out_size, "request says %u payload bytes, %zu arrived",
		              h.len, len - sizeof(h));
	if (h.type == 0 || h.type >= HAL_PS_REQ_END)
		return refuse(hal, out, out_size, "unknown request type %u", h.type);
	if (h.type != HAL_PS_ID_STORE && h.len != 0)
		return refuse(hal, out, out_size, "request %s takes no payload (%u bytes)",
		              req_names[h.type], h.len);

	switch ((enum hal_privsep_req)h.type) {
	case HAL_PS_HWID:
		st = hal_read_hwid(hal, &hwid);
		return put_answer(out, out_size, st, hal, &hwid, st == HAL_OK ? sizeof(hwid) : 0);
	case HAL_PS_BOOT_ID:
		st = hal_boot_id(hal, boot, sizeof(boot));
		return put_answer(out, out_size, st, hal, boot, st == HAL_OK ? strlen(boot) : 0);
	case HAL_PS_ID_LOAD:
		return serve_load(hal, out, out_size);
	case HAL_PS_ID_STORE:
		return serve_store(hal, payload, h.len, out, out_size);
	case HAL_PS_ID_ERASE:
		log_notice("privileged helper: erasing the identity record");
		st = hal_identity_erase(hal);
		break;
	case HAL_PS_REBOOT:
		log_notice("privileged helper: rebooting");
		st = hal_reboot(hal);
		break;
	case HAL_PS_SERVICE_RESTART:
		log_notice("privileged helper: restarting the key service");
		st = hal_service_restart(hal);
		break;
	case HAL_PS_HEALTH:
		st = hal_health_check(hal, &health);
		return put_answer(out, out_size, st, hal, &health,
		                  st == HAL_OK ? sizeof(health) : 0);
	default:
		return refuse(hal, out, out_size, "unknown request type %u", h.type);
	}
	return put_answer(out, out_size, st, hal, NULL, 0);
}

static void close_others(int keep1, int keep2)
{
	int lo = keep1 < keep2 ? keep1 : keep2, hi = keep1 < keep2 ? keep2 : keep1;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
}

/* The helper process: serves requests until the agent closes its end. */
static void __attribute__((noreturn)) helper_main(struct hal *hal, int sock, int life)
{
	uint8_t *in = malloc(HAL_PRIVSEP_MSG_MAX), *out = malloc(HAL_PRIVSEP_MSG_MAX);

	close_others(sock, life);
	prctl(PR_SET_NAME, "kma-agent-priv");
	log_init("kma-agent-priv", log_get_level());
	signal(SIGINT, SIG_IGN); /* a terminal's ^C: the agent stops, and then the helper */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (!in || !out) {
		log_err("privileged helper: out of memory");
		_exit(1);
	}
	for (;;) {
		ssize_t n = recv(sock, in, HAL_PRIVSEP_MSG_MAX, MSG_TRUNC);
		size_t alen;

		if (n == 0)
			break; /* the agent stopped */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_errno(LOG_LVL_ERR, errno, "privileged helper: recv");
			break;
		}
		if ((size_t)n > HAL_PRIVSEP_MSG_MAX)
			alen = refuse(hal, out, HAL_PRIVSEP_MSG_MAX,
			              "request of %zd bytes is larger than %d", n,
			              HAL_PRIVSEP_MSG_MAX);
		else
			alen = hal_privsep_serve_one(hal, in, (size_t)n, out, HAL_PRIVSEP_MSG_MAX);
		mbedtls_platform_zeroize(in, (size_t)n < HAL_PRIVSEP_MSG_MAX ? (size_t)n
		                                                             : HAL_PRIVSEP_MSG_MAX);
		if (send(sock, out, alen, MSG_NOSIGNAL) < 0) {
			if (errno != EPIPE && errno != ECONNRESET)
				log_errno(LOG_LVL_ERR, errno, "privileged helper: send");
			break;
		}
		mbedtls_platform_zeroize(out, alen);
	}
	hal_close(hal);
	_exit(0);
}

/* --- the agent's side: a proxy backend --- */

static struct {
	pthread_mutex_t lock; /* one request at a time: the health worker asks too */
	int sock, life;
	struct hal_ops ops;
} ps = {.lock = PTHREAD_MUTEX_INITIALIZER, .sock = -1, .life = -1};
/*
 * Apart from ps, whose initialiser puts it in the binary's data: a zeroed array is .bss,
 * whose pages cost nothing until a message touches them; inside ps it was 256 KiB of the
 * file, mapped in by every agent (make bench-footprint).
 */
static uint8_t ps_buf[HAL_PRIVSEP_MSG_MAX];

/*
 * Sends one request and reads its answer: the helper's status and error text, and up to
 * size bytes of result into data (*got: how many; NULL when none is expected).
 */
static enum hal_status call(struct hal *hal, enum hal_privsep_req type, const void *payload,
                            size_t plen, void *data, size_t size, size_t *got)
{
	struct hal_privsep_hdr h = {.type = type, .len = (uint32_t)plen};
	struct hal_privsep_answer a;
	enum hal_status st = HAL_ERR_IO;
	ssize_t n;

	if (got)
		*got = 0;
	if (plen > sizeof(ps_buf) - sizeof(h)) {
		hal_set_error(hal, 0, "%s request of %zu bytes is too large", req_names[type],
		              plen);
		return HAL_ERR_INVALID;
	}
	pthread_mutex_lock(&ps.lock);
	memcpy(ps_buf, &h, sizeof(h));
	if (plen)
		memcpy(ps_buf + sizeof(h), payload, plen);
	n = send(ps.sock, ps_buf, sizeof(h) + plen, MSG_NOSIGNAL);
	mbedtls_platform_zeroize(ps_buf, sizeof(h) + plen);
	if (n < 0) {
		hal_set_error(hal, errno, "privileged helper unreachable (%s)", req_names[type]);
		goto exit;
	}
	do
		n = recv(ps.sock, ps_buf, sizeof(ps_buf), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		hal_set_error(hal, n < 0 ? errno : 0, "privileged helper %s (%s)",
		              n < 0 ? "unreachable" : "has exited", req_names[type]);
		goto exit;
	}
	memcpy(&a, ps_buf, (size_t)n < sizeof(a) ? (size_t)n : sizeof(a));
	if ((size_t)n < sizeof(a) || (size_t)n > sizeof(ps_buf) ||
	    (size_t)a.error_len + a.data_len != (size_t)n - sizeof(a) || a.status < 0 ||
	    a.status > HAL_ERR_COMMAND || a.data_len > size || (a.data_len && !data)) {
		hal_set_error(hal, 0,
		              "malformed answer of %zd bytes from the privileged helper (%s)", n,
		              req_names[type]);
		goto wipe;
	}
	st = (enum hal_status)a.status;
	hal->last_errno = a.errnum;
	snprintf(hal->error, sizeof(hal->error), "%.*s", (int)a.error_len, ps_buf + sizeof(a));
	if (a.data_len)
		memcpy(data, ps_buf + sizeof(a) + a.error_len, a.data_len);
	if (got)
		*got = a.data_len;
wipe:
	mbedtls_platform_zeroize(ps_buf, (size_t)n < sizeof(ps_buf) ? (size_t)n : sizeof(ps_buf));
exit:
	pthread_mutex_unlock(&ps.lock);
	return st;
}

static enum hal_status malformed(struct hal *hal, enum hal_privsep_req type)
{
	hal_set_error(hal, 0, "malformed answer from the privileged helper (%s)", req_names[type]);
	return HAL_ERR_IO;
}

static enum hal_status px_read_hwid(struct hal *hal, struct hal_hwid *out)
{
	size_t got;
	enum hal_status st = call(hal, HAL_PS_HWID, NULL, 0, out, sizeof(*out), &got);

	if (st != HAL_OK)
		return st;
	if (got != sizeof(*out) || !memchr(out->board_serial, 0, HAL_ID_MAX) ||
	    !memchr(out->product_uuid, 0, HAL_ID_MAX) || !memchr(out->disk_serial, 0, HAL_ID_MAX) ||
	    !memchr(out->cpu_id, 0, HAL_ID_MAX) || !memchr(out->mac, 0, HAL_ID_MAX)) {
		memset(out, 0, sizeof(*out));
		return malformed(hal, HAL_PS_HWID);
	}
	return HAL_OK;
}

static enum hal_status px_boot_id(struct hal *hal, char *buf, size_t size)
{
	size_t got;
	enum hal_status st = call(hal, HAL_PS_BOOT_ID, NULL, 0, buf, size - 1, &got);

	buf[st == HAL_OK ? got : 0] = '\0';
	return st;
}

static enum hal_status px_identity_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                                        struct hal_load_info *info)
{
	uint8_t *data = malloc(HAL_PRIVSEP_MSG_MAX);
	size_t got = 0;
	enum hal_status st;

	if (!data) {
		hal_set_error(hal, ENOMEM, "identity record");
		return HAL_ERR_NOMEM;
	}
	st = call(hal, HAL_PS_ID_LOAD, NULL, 0, data, HAL_PRIVSEP_MSG_MAX, &got);
	if (st == HAL_OK) {
		if (got > sizeof(*info))
			*out = kma__v1__identity_record__unpack(NULL, got - sizeof(*info),
			                                        data + sizeof(*info));
		if (!*out) {
			st = malformed(hal, HAL_PS_ID_LOAD);
		} else {
			memcpy(info, data, sizeof(*info));
			info->detail[sizeof(info->detail) - 1] = '\0';
		}
	}
	mbedtls_platform_zeroize(data, got);
	free(data);
	return st;
}

static enum hal_status px_identity_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
{
	size_t len = kma__v1__identity_record__get_packed_size(rec);
	uint8_t *data;
	enum hal_status st;

	if (len == 0 || len > IDSTORE_MAX) {
		hal_set_error(hal, 0, "identity record of %zu bytes (1 to %d)", len, IDSTORE_MAX);
		return HAL_ERR_INVALID;
	}
	data = malloc(len);
	if (!data) {
		hal_set_error(hal, ENOMEM, "identity record");
		return HAL_ERR_NOMEM;
	}
	kma__v1__identity_record__pack(rec, data);
	st = call(hal, HAL_PS_ID_STORE, data, len, NULL, 0, NULL);
	mbedtls_platform_zeroize(data, len);
	free(data);
	return st;
}

static enum hal_status px_identity_erase(struct hal *hal)
{
	return call(hal, HAL_PS_ID_ERASE, NULL, 0, NULL, 0, NULL);
}

static enum hal_status px_reboot(struct hal *hal)
{
	return call(hal, HAL_PS_REBOOT, NULL, 0, NULL, 0, NULL);
}

static enum hal_status px_service_restart(struct hal *hal)
{
	return call(hal, HAL_PS_SERVICE_RESTART, NULL, 0, NULL, 0, NULL);
}

static enum hal_status px_health_check(struct hal *hal, struct hal_health *out)
{
	size_t got;
	enum hal_status st = call(hal, HAL_PS_HEALTH, NULL, 0, out, sizeof(*out), &got);

	if (st == HAL_OK && got != sizeof(*out))
		return malformed(hal, HAL_PS_HEALTH);
	out->detail[sizeof(out->detail) - 1] = '\0';
	return st;
}

/* The real backend's table with the privileged operations replaced by requests. */
static void become_proxy(struct hal *hal, int sock, int life)
{
	ps.ops = *hal->ops;
	ps.ops.read_hwid = px_read_hwid;
	ps.ops.boot_id = px_boot_id;
	ps.ops.identity_load = px_identity_load;
	ps.ops.identity_store = px_identity_store;
	ps.ops.identity_erase = px_identity_erase;
	ps.ops.reboot = px_reboot;
	ps.ops.service_restart = px_service_restart;
	ps.ops.health_check = px_health_check;
	ps.sock = sock;
	ps.life = life;
	hal->ops = &ps.ops;
}

int hal_privsep_lifeline(void)
{
	return ps.life;
}

/* Gives the agent's files in the state directory to the user, the directory to root. */
static enum hal_status hand_over(struct hal *hal, const struct passwd *pw, const char *const *files)
{
	char path[PATH_MAX];

	if (chown(hal->state_dir, 0, pw->pw_gid) < 0 || chmod(hal->state_dir, 01770) < 0) {
		hal_set_error(hal, errno, "cannot hand over state directory %s", hal->state_dir);
		return HAL_ERR_IO;
	}
	for (; files && *files; files++) {
		for (int tmp = 0; tmp < 2; tmp++) {
			int n = snprintf(path, sizeof(path), "%s/%s%s", hal->state_dir, *files,
			                 tmp ? FILEIO_TEMP_SUFFIX : "");

			if (n < 0 || (size_t)n >= sizeof(path)) {
				hal_set_error(hal, ENAMETOOLONG, "%s in %s", *files,
				              hal->state_dir);
				return HAL_ERR_INVALID;
			}
			if (lchown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT) {
				hal_set_error(hal, errno, "cannot give %s to %s", path,
				              pw->pw_name);
				return HAL_ERR_IO;
			}
		}
	}
	return HAL_OK;
}

static enum hal_status drop_to(struct hal *hal, const struct passwd *pw)
{
	gid_t gid = pw->pw_gid;

	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		hal_set_error(hal, errno, "cannot become user %s", pw->pw_name);
		return HAL_ERR_IO;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		hal_set_error(hal, 0, "could become root again after dropping to %s", pw->pw_name);
		return HAL_ERR_IO;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		hal_set_error(hal, errno, "no_new_privs");
		return HAL_ERR_IO;
	}
	return HAL_OK;
}

enum hal_status hal_privsep_split(struct hal *hal, const char *user, const char *const *files)
{
	struct passwd *pw;
	int sv[2] = {-1, -1}, life[2] = {-1, -1};
	char env[64];
	enum hal_status st;
	pid_t pid;

	if (ps.sock >= 0) {
		hal_set_error(hal, 0, "the HAL is split already");
		return HAL_ERR_INVALID;
	}
	if (geteuid() != 0) {
		hal_set_error(hal, 0, "privilege separation needs root (running as uid %u)",
		              (unsigned)geteuid());
		return HAL_ERR_INVALID;
	}
	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		hal_set_error(hal, errno, "no user %s", user);
		return HAL_ERR_INVALID;
	}
	if (pw->pw_uid == 0) {
		hal_set_error(hal, 0, "user %s is root: nothing would be separated", user);
		return HAL_ERR_INVALID;
	}
	st = hand_over(hal, pw, files);
	if (st != HAL_OK)
		return st;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(life, O_CLOEXEC) < 0) {
		hal_set_error(hal, errno, "cannot create the privileged helper's channel");
		st = HAL_ERR_IO;
		goto fail;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		hal_set_error(hal, errno, "cannot start the privileged helper");
		st = HAL_ERR_IO;
		goto fail;
	}
	if (pid == 0) {
		close(sv[0]);
		close(life[0]);
		helper_main(hal, sv[1], life[1]);
	}
	close(sv[1]);
	close(life[1]);
	sv[1] = life[1] = -1;
	/* Kept across a re-exec (simulated reboot): the helper outlives it. */
	snprintf(env, sizeof(env), "%d,%d", sv[0], life[0]);
	if (fcntl(sv[0], F_SETFD, 0) < 0 || fcntl(life[0], F_SETFD, 0) < 0 ||
	    setenv(HAL_PRIVSEP_ENV, env, 1) < 0) {
		hal_set_error(hal, errno, "cannot keep the privileged helper's channel");
		st = HAL_ERR_IO;
	} else {
		st = drop_to(hal, pw);
	}
	if (st != HAL_OK) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unsetenv(HAL_PRIVSEP_ENV);
		goto fail;
	}
	become_proxy(hal, sv[0], life[0]);
	log_notice("privilege separation: this process runs as %s (uid %u), the helper (pid %d) "
	           "keeps root for the board's actions and the identity record",
	           user, (unsigned)getuid(), (int)pid);
	return HAL_OK;
fail:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (life[i] >= 0)
			close(life[i]);
	}
	return st;
}

static bool fd_is(int fd, mode_t type)
{
	struct stat st;

	return fd > 2 && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

enum hal_status hal_privsep_attach(struct hal *hal, const char *value)
{
	int sock, life, used = 0;

	if (!value || !*value) {
		hal_set_error(hal, 0, "no privileged helper to attach to");
		return HAL_ERR_NOT_FOUND;
	}
	if (sscanf(value, "%d,%d%n", &sock, &life, &used) != 2 || value[used] != '\0' ||
	    !fd_is(sock, S_IFSOCK) || !fd_is(life, S_IFIFO)) {
		hal_set_error(hal, 0, "%s=%s does not name the privileged helper's channel",
		              HAL_PRIVSEP_ENV, value);
		return HAL_ERR_INVALID;
	}
	become_proxy(hal, sock, life);
	log_info("privilege separation: attached to the privileged helper again (uid %u)",
	         (unsigned)getuid());
	return HAL_OK;
}
