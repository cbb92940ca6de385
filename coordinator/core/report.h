#ifndef KMA_COORD_REPORT_H
#define KMA_COORD_REPORT_H

/*
 * POST /v1/report (docs/protocol.md): an agent's AgentReport in, a CoordinatorReply out.
 * The HTTP layer (http.c) authenticates the client, enforces max_body while the body
 * arrives and hands the whole body here; this module does every later check, in the
 * contract's order: 415 content type, 400 decode, 422 semantics, 403 identity, then
 * stores the report in one transaction and builds the reply.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kma.pb-c.h"
#include "revoke.h"
#include "store.h"

/* Limits of the 422 check (docs/protocol.md). */
#define REPORT_MAX_REPEATED 256 /* peers, and every other repeated field */
#define REPORT_MAX_STRING   256 /* bytes in any string field */

#define REPORT_CONTENT_TYPE "application/x-protobuf"

/* The report interval the reply asks for while a recovery plan is running or paused. */
#define REPORT_RECOVERY_INTERVAL_MS 1000
/*
 * Outside recovery plans an observation that only moved on in time is stored again once
 * its stored time is this old: what GET /v1/mesh says of "at" may be that much behind.
 */
#define REPORT_OBS_AT_SLACK_S 120

struct report_outcome {
	int status;           /* HTTP status */
	char reason[192];     /* one line for the text/plain body when status is not 200 */
	unsigned retry_after; /* seconds for a Retry-After header, 0 for none */
	/* why the store refused it (status 403 or 409), for the evidence kept of it */
	enum report_refusal {
		REPORT_TAKEN = 0,
		REPORT_STRANGER,   /* the certificate names no node of the cluster */
		REPORT_NOT_PINNED, /* not the node's enrolled certificate */
		REPORT_STALE,      /* older than the node's last report */
	} refusal;
	/* packed CoordinatorReply, the caller's to free(): always with 200; with a 403 for a
	 * certificate that is not the node's enrolled one, the enrolled serial alone */
	unsigned char *reply;
	size_t reply_len;
};

/*
 * The 422 check: node_id not empty, at most REPORT_MAX_REPEATED elements in any repeated
 * field, every enum value one the schema names, no string longer than REPORT_MAX_STRING
 * bytes, and every peer observation names its peer. Returns true when valid; otherwise
 * false with the first problem in why (naming the field).
 */
bool report_validate(const Kma__V1__AgentReport *r, char *why, size_t size);

/* True when content_type (may be NULL) is application/x-protobuf, parameters ignored. */
bool report_content_type_ok(const char *content_type);

/*
 * Packs the CoordinatorReply for node_id: ack_sequence = ack, the current peer table
 * version, every other enrolled node as a peer and, with them, the cluster CA's CRL for that
 * version (revoke_crl at now; none when crl is NULL: this coordinator is not the CA; left out,
 * logged, when it cannot be had) (neither when agent_version, the version the agent says it
 * holds, is the current one), the node's enrolled serial, the interval
 * (REPORT_RECOVERY_INTERVAL_MS while a plan is unfinished) and the directive a running plan
 * has out for the node, if any.
 * Returns 0 with *out (free()) and *len, or -1 (logged).
 */
int report_build_reply(struct store *st, struct revoke *crl, const char *node_id, uint64_t ack,
                       uint32_t interval_ms, uint64_t agent_version, int64_t now,
                       unsigned char **out, size_t *len) __attribute__((warn_unused_result));

/*
 * Who sent a report: what its verified client certificate names, and from where. The
 * report is taken only for node_id, and only when serial is that node's enrolled serial
 * (or the one a running rejoin accepts); NULL serial: not checked (tests).
 */
struct report_client {
	const char *node_id;
	const char *serial;
	const char *address; /* "" when unknown */
};

/* A report decoded and checked, ready to be stored (report_store). */
struct report_in {
	struct report_client who; /* the caller's strings, which must outlive in */
	Kma__V1__AgentReport *r;
	struct store_obs_in *obs; /* [r->n_peers], pointing into r->peers */
	struct store_facts facts; /* what r says of its node: what is stored of it besides */
	/* Where r and everything in it were allocated, one block after another, freed at once. */
	struct report_arena {
		struct report_chunk *chunks;
		ProtobufCAllocator alloc;
	} arena;
};

/*
 * The checks of a complete request from the client who, which need no store: content
 * type, decode, validation, identity (the report's node_id is the certificate's). Returns
 * true with *in (report_in_free; it may point into body); otherwise false with the answer
 * in out, the rejection not yet counted (report_reject, unless status is 500).
 */
bool report_decode(const struct report_client *who, const char *content_type,
                   const unsigned char *body, size_t len, struct report_in *in,
                   struct report_outcome *out) __attribute__((warn_unused_result));

/* Frees what report_decode filled in; a zeroed struct is fine. */
void report_in_free(struct report_in *in);

/*
 * Stores a decoded report (received_at = now) and builds the reply into out (the CRL from
 * crl, NULL for none: report_build_reply). Refused and counted through report_reject: 403 for
 * a node not in the cluster or a certificate that is not the node's enrolled one (remembered
 * as evidence, store_attempt_record), 409 for a report older than the node's last (store.h);
 * both with Retry-After, the report interval.
 */
void report_store(struct store *st, uint32_t interval_ms, struct revoke *crl,
                  const struct report_in *in, int64_t now, struct report_outcome *out);

/* One report of a batch (report_store_batch): what was decoded, and where its answer goes. */
struct report_item {
	const struct report_in *in;
	struct report_outcome *out;
};

/*
 * report_store for n reports in one store transaction (store_reports_begin): one commit for
 * all, the replies built inside it. If the batch cannot be committed every report is
 * answered 500 and nothing of it is kept.
 */
void report_store_batch(struct store *st, uint32_t interval_ms, struct revoke *crl,
                        const struct report_item *items, size_t n, int64_t now);

/*
 * Handles a complete request from the client who: content type, decode, validation,
 * identity, store (received_at = now), reply. Fills out; a rejection is counted and logged
 * through report_reject.
 */
void report_handle(struct store *st, uint32_t interval_ms, struct revoke *crl,
                   const struct report_client *who, const char *content_type,
                   const unsigned char *body, size_t len, int64_t now, struct report_outcome *out);

/*
 * A report refused before its body was read, because the cluster CA revoked the certificate
 * it comes with (auth_check): who names what the certificate names (its CN as the node,
 * its serial), reason is auth's. Counted and logged through report_reject, the certificate
 * remembered as evidence (store_attempt_record) and, for a node of the cluster, answered as a
 * certificate that is not the node's is: 403 with the CoordinatorReply of its enrolled serial
 * alone (no table, no CRL), so that the agent knows it is not enrolled; Retry-After as for
 * report_store. out->reply is the caller's to free().
 */
void report_refuse_revoked(struct store *st, uint32_t interval_ms, const struct report_client *who,
                           const char *reason, int64_t now, struct report_outcome *out);

/*
 * Counts a rejected report under status and logs it at info with the client (who) and
 * the reason. Also used by the HTTP layer for the checks it makes (403 role, 413).
 */
void report_reject(struct store *st, int status, const char *who, const char *reason);

#endif
