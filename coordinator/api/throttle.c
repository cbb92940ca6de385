#include "throttle.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
	char key[THROTTLE_KEY_MAX];
	/* Failures it may still have, in units of 1/THROTTLE_REFILL_S: refills one a second. */
	int64_t credit;
	int64_t at; /* when credit was last brought up to date */
};

#define FULL ((int64_t)THROTTLE_BURST * THROTTLE_REFILL_S)
#define COST ((int64_t)THROTTLE_REFILL_S)

struct throttle {
	pthread_mutex_t lock;
	struct bucket b[THROTTLE_SOURCES];
	size_t n;
	uint64_t failures, refused;
};

struct throttle *throttle_new(void)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Credit at now; a clock that went back refills nothing. */
static int64_t credit(const struct bucket *b, int64_t now)
{
	int64_t c = b->credit + (now > b->at ? now - b->at : 0);

	return c > FULL ? FULL : c;
}

static struct bucket *find(struct throttle *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->b[i].key, key) == 0)
			return &t->b[i];
	return NULL;
}

/* A bucket for key: a free one, or the fullest (then the oldest) one's. */
static struct bucket *take(struct throttle *t, const char *key, int64_t now)
{
	struct bucket *b;

	if (t->n < THROTTLE_SOURCES) {
		b = &t->b[t->n++];
	} else {
		b = &t->b[0];
		for (size_t i = 1; i < t->n; i++) {
			int64_t ci = credit(&t->b[i], now), cb = credit(b, now);

			if (ci > cb || (ci == cb && t->b[i].at < b->at))
				b = &t->b[i];
		}
	}
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->credit = FULL;
	b->at = now;
	return b;
}

unsigned throttle_check(struct throttle *t, const char *source, int64_t now)
{
	struct bucket *b;
	unsigned wait = 0;

	pthread_mutex_lock(&t->lock);
	b = find(t, source);
	if (b && credit(b, now) < COST) {
		wait = (unsigned)(COST - credit(b, now));
		t->refused++;
	}
	pthread_mutex_unlock(&t->lock);
	return wait;
}

void throttle_fail(struct throttle *t, const char *source, int64_t now)
{
	struct bucket *b;
	int64_t c;

	pthread_mutex_lock(&t->lock);
	t->failures++;
	b = find(t, source);
	if (!b)
		b = take(t, source, now);
	c = credit(b, now) - COST;
	b->credit = c < 0 ? 0 : c;
	b->at = now;
	pthread_mutex_unlock(&t->lock);
}

void throttle_stats(struct throttle *t, int64_t now, struct throttle_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	out->failures = t->failures;
	out->refused = t->refused;
	out->sources = t->n;
	for (size_t i = 0; i < t->n; i++)
		out->throttled += credit(&t->b[i], now) < COST;
	pthread_mutex_unlock(&t->lock);
}
