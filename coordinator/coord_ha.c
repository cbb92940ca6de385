#include "coord_ha.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "exitcodes.h"
#include "lead.h"
#include "log.h"
#include "sdnotify.h"
#include "store_replica.h"

#define LEADER_KEY "leader"

/* How often a standby looks whether the lead is free. */
#define STANDBY_POLL_MS 500

struct coord_ha {
	struct etcd *election; /* this module's; the replica has its own */
	struct etcd *replica;
	struct lead lead;
	pthread_t keeper;
	bool keeping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
};

static struct etcd *etcd_for(const struct coord_config *cfg)
{
	struct etcd_config ec = {
	    .endpoints = cfg->etcd_endpoints,
	    .ca = cfg->etcd_ca,
	    .cert = cfg->etcd_cert[0] ? cfg->etcd_cert : NULL,
	    .key = cfg->etcd_key[0] ? cfg->etcd_key : NULL,
	    .timeout_ms = 2000,
	};

	return etcd_open(&ec);
}

/* The write-through was refused or lost: this instance is not the active one any more. */
static void deposed(const char *why)
{
	log_err("ha: no longer the active coordinator (%s); exiting, to start again as a "
	        "standby",
	        why);
	sdnotify_tell("STATUS=deposed");
	_exit(KMA_EXIT_TEMPFAIL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int keep(struct coord_ha *ha);

/* Waits for the lead, answering as a standby meanwhile; false on a signal or failure. */
static bool campaign(struct coord_ha *ha, const struct coord_config *cfg, struct http_server *srv,
                     const sigset_t *set, bool *stopped)
{
	const struct timespec poll = {.tv_sec = 0, .tv_nsec = STANDBY_POLL_MS * 1000000L};
	char key[256], active[512], told[512] = "-";
	bool unreachable = false;
	struct sdnotify_watchdog wd;

	/* systemd's watchdog (WatchdogSec=) watches a standby too: this loop is its work. */
	sdnotify_watchdog_init(&wd);
	snprintf(key, sizeof(key), "%s" LEADER_KEY, cfg->etcd_prefix);
	for (;;) {
		enum etcd_status st =
		    lead_try(ha->election, key, cfg->advertise_url, cfg->election_ttl_s, &ha->lead,
		             active, sizeof(active));
		int sig;

		if (st == ETCD_OK)
			return true;
		if (st == ETCD_ERROR && !unreachable)
			log_warn("ha: etcd does not answer; standing by until it does");
		unreachable = st == ETCD_ERROR;
		if (st == ETCD_FAILED && strcmp(active, told) != 0) {
			log_notice("ha: standby; the active coordinator is %s",
			           active[0] ? active : "(unnamed)");
			http_standby(srv, active);
			snprintf(told, sizeof(told), "%s", active);
		}
		sdnotify_watchdog_kick(&wd, (uint64_t)now_ms() * 1000u);
		sig = sigtimedwait(set, NULL, &poll);
		if (sig == SIGTERM || sig == SIGINT) {
			*stopped = true;
			return false;
		}
	}
}

struct coord_ha *coord_ha_take_over(const struct coord_config *cfg, struct http_server *srv,
                                    const sigset_t *set, bool *stopped)
{
	struct coord_ha *ha = calloc(1, sizeof(*ha));

	*stopped = false;
	if (!ha)
		return NULL;
	pthread_mutex_init(&ha->lock, NULL);
	pthread_cond_init(&ha->wake, NULL);
	ha->election = etcd_for(cfg);
	ha->replica = etcd_for(cfg);
	if (!ha->election || !ha->replica)
		goto fail;
	http_standby(srv, "");
	sdnotify_tell("READY=1\nSTATUS=standby");
	if (!campaign(ha, cfg, srv, set, stopped))
		goto fail;
	/* Kept alive from now on: rebuilding a large replica may take longer than a TTL. */
	if (keep(ha) != 0) {
		lead_resign(ha->election, &ha->lead);
		goto fail;
	}
	log_notice("ha: this instance leads (tenure %lld); rebuilding %s from etcd",
	           (long long)ha->lead.create_rev, cfg->db);
	if (store_replica_load(ha->replica, cfg->etcd_prefix, cfg->db) != STORE_OK) {
		coord_ha_end(ha);
		return NULL;
	}
	store_replica_start(ha->replica, cfg->etcd_prefix, ha->lead.key, ha->lead.create_rev,
	                    deposed);
	return ha;
fail:
	etcd_close(ha->election);
	etcd_close(ha->replica);
	pthread_cond_destroy(&ha->wake);
	pthread_mutex_destroy(&ha->lock);
	free(ha);
	return NULL;
}

/* Renews the lease three times a TTL; gone, or unrenewed for a TTL: deposed. */
static void *keeper(void *arg)
{
	struct coord_ha *ha = arg;
	int64_t period_ms = ha->lead.ttl_s * 1000 / 3, last_ok = now_ms();

	pthread_mutex_lock(&ha->lock);
	while (!ha->stop) {
		struct timespec until;
		enum etcd_status st;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period_ms / 1000;
		until.tv_nsec += (period_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ha->wake, &ha->lock, &until);
		if (ha->stop)
			break;
		pthread_mutex_unlock(&ha->lock);
		st = lead_renew(ha->election, &ha->lead);
		if (st == ETCD_OK)
			last_ok = now_ms();
		else if (st == ETCD_FAILED)
			deposed("its lease in etcd expired");
		else if (now_ms() - last_ok >= ha->lead.ttl_s * 1000)
			deposed("etcd did not renew its lease for a whole TTL");
		pthread_mutex_lock(&ha->lock);
	}
	pthread_mutex_unlock(&ha->lock);
	return NULL;
}

static int keep(struct coord_ha *ha)
{
	if (pthread_create(&ha->keeper, NULL, keeper, ha) != 0) {
		log_err("ha: cannot start the thread that keeps the lead");
		return -1;
	}
	ha->keeping = true;
	return 0;
}

void coord_ha_end(struct coord_ha *ha)
{
	uint64_t rows = 0, txns = 0;

	if (!ha)
		return;
	if (ha->keeping) {
		pthread_mutex_lock(&ha->lock);
		ha->stop = true;
		pthread_cond_signal(&ha->wake);
		pthread_mutex_unlock(&ha->lock);
		pthread_join(ha->keeper, NULL);
	}
	lead_resign(ha->election, &ha->lead);
	store_replica_counts(&rows, &txns);
	log_notice("ha: gave up the lead (%llu rows written to etcd in %llu transactions)",
	           (unsigned long long)rows, (unsigned long long)txns);
	etcd_close(ha->election);
	etcd_close(ha->replica);
	pthread_cond_destroy(&ha->wake);
	pthread_mutex_destroy(&ha->lock);
	free(ha);
}
