#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool same(const struct health_result *a, const struct health_result *b)
{
	return a->checked == b->checked && a->healthy == b->healthy && a->status == b->status &&
	       strcmp(a->detail, b->detail) == 0;
}

/* Absolute CLOCK_MONOTONIC deadline interval_s from now (the condition uses that clock). */
static struct timespec deadline(unsigned interval_s)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)interval_s;
	return ts;
}

static void *worker(void *arg)
{
	struct health *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct health_result r = {.checked = true};
		struct hal_health hh = {0};
		struct timespec until;
		bool changed;

		h->now = false;
		pthread_mutex_unlock(&h->lock);
		/* The slow part, with no lock held: the loop can read the last result. */
		r.status = hal_health_check(&h->hal, &hh);
		r.healthy = r.status == HAL_OK && hh.healthy;
		if (r.status == HAL_OK)
			snprintf(r.detail, sizeof(r.detail), "%s", hh.detail);
		else
			snprintf(r.detail, sizeof(r.detail), "cannot check: %.200s",
			         h->hal.error[0] ? h->hal.error : hal_status_str(r.status));
		r.checked_at = hal_time_real(&h->hal);
		pthread_mutex_lock(&h->lock);
		changed = !same(&h->result, &r);
		h->result = r;
		if (changed) {
			/* Non-blocking: a full pipe already holds a wake-up. */
			ssize_t w = write(h->wake[1], "c", 1);

			(void)w;
		}
		until = deadline(h->interval_s);
		while (!h->stop && !h->now)
			if (pthread_cond_timedwait(&h->cond, &h->lock, &until) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct health_result r;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	health_get(h, &r);
	if (h->on_change)
		h->on_change(h->arg, &r);
}

int health_start(struct health *h, struct event_base *base, const struct hal *hal,
                 unsigned interval_s, void (*on_change)(void *arg, const struct health_result *),
                 void *arg)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	bool cond_ok = false, lock_ok = false;
	int rc;

	memset(h, 0, sizeof(*h));
	h->wake[0] = h->wake[1] = -1;
	h->hal = *hal;
	h->interval_s = interval_s ? interval_s : 1;
	h->on_change = on_change;
	h->arg = arg;
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_errno(LOG_LVL_ERR, errno, "health: pipe");
		goto fail;
	}
	lock_ok = pthread_mutex_init(&h->lock, NULL) == 0;
	cond_ok = pthread_condattr_init(&ca) == 0;
	if (cond_ok) {
		cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
		          pthread_cond_init(&h->cond, &ca) == 0;
		pthread_condattr_destroy(&ca);
	}
	h->ev = event_new(base, h->wake[0], EV_READ | EV_PERSIST, on_wake, h);
	if (!lock_ok || !cond_ok || !h->ev || event_add(h->ev, NULL)) {
		log_err("health: cannot set up the worker");
		goto fail;
	}
	/* Signals are the loop's business (libevent): the worker never takes one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, worker, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_errno(LOG_LVL_ERR, rc, "health: cannot start the worker thread");
		goto fail;
	}
	h->started = true;
	return 0;
fail:
	if (h->ev)
		event_free(h->ev);
	h->ev = NULL;
	if (cond_ok)
		pthread_cond_destroy(&h->cond);
	if (lock_ok)
		pthread_mutex_destroy(&h->lock);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	h->wake[0] = h->wake[1] = -1;
	return -1;
}

void health_check_now(struct health *h)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->lock);
	h->now = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void health_get(struct health *h, struct health_result *out)
{
	if (!h->started) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&h->lock);
	*out = h->result;
	pthread_mutex_unlock(&h->lock);
}

void health_stop(struct health *h)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	event_free(h->ev);
	h->ev = NULL;
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	close(h->wake[0]);
	close(h->wake[1]);
	h->wake[0] = h->wake[1] = -1;
	h->started = false;
}
