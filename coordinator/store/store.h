#ifndef KMA_COORD_STORE_H
#define KMA_COORD_STORE_H

/*
 * The coordinator's state: nodes, enrolment history, enrolment tokens, the last report of
 * each node, peer observations, the peer table version and counters of rejected reports
 * (and, in store_plan.h, recovery plans). The core uses these functions only; each calls
 * the operation of the store's backend (store_backend.h), today SQLite, one file
 * (store_sqlite.h). What follows is the contract every backend keeps; the SQLite one:
 *
 * The file is opened in WAL mode with synchronous=FULL: a function that returned
 * STORE_OK has committed its change durably, except store_report_put, which survives the
 * process being killed but may lose the last reports on a power cut (agents send them
 * again). Every write runs in one transaction, so a
 * crash at any point leaves either all of a change or none of it. One struct store must
 * not be used from two threads at once.
 *
 * Times are seconds since the epoch (UTC); the caller passes "now" so tests control it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hexser.h"
#include "nodeid.h"
#include "vocab.h"

enum store_status {
	STORE_OK = 0,
	STORE_EXISTS,    /* the node already exists */
	STORE_NOT_FOUND, /* no such node */
	STORE_ERROR,     /* SQLite failed (logged with the statement's purpose) */
	/* store_token_check and store_token_redeem only: why a token is refused */
	STORE_TOKEN_UNKNOWN,    /* no such token (never issued, replaced, or its node deleted) */
	STORE_TOKEN_OTHER_NODE, /* issued for another node */
	STORE_TOKEN_USED,       /* already redeemed */
	STORE_TOKEN_EXPIRED,    /* expires_at <= now */
	/* store_report_put only: why a report is not stored (nothing written) */
	STORE_NOT_PINNED, /* its certificate's serial is neither enrolled nor a rejoin's */
	STORE_STALE,      /* a newer report of the node is stored already */
};

#define STORE_ID_MAX         KMA_NODE_ID_SIZE /* node IDs, with the NUL */
#define STORE_TEXT_MAX       257              /* names, addresses, details: 256 bytes and the NUL */
#define STORE_SERIAL_MAX     KMA_SERIAL_SIZE  /* uppercase hex of up to 64 bytes and the NUL */
#define STORE_TOKEN_HASH_MAX 65               /* lowercase hex SHA-256 of a token and the NUL */
#define STORE_BOOT_MAX       72               /* boot IDs as stored: 71 bytes and the NUL */
#define STORE_RETIRED_MAX    8   /* replaced incarnations of an agent remembered per node */
#define STORE_ATTEMPTS_MAX   256 /* refused certificates remembered (the newest) */

struct store;

struct store_node {
	char node_id[STORE_ID_MAX];
	char name[STORE_TEXT_MAX];
	char address[STORE_TEXT_MAX];
	char enrolled_serial[STORE_SERIAL_MAX]; /* "" when none */
	int64_t created_at;
	/* the last report, filled by store_node_get and store_nodes_list */
	bool has_report;
	uint64_t report_sequence;
	int64_t report_at;
	enum kma_state report_state;
	char report_boot_id[STORE_BOOT_MAX];
	char report_address[STORE_TEXT_MAX]; /* where the last report came from, "" if unknown */
	/* during a rejoin, the serial whose reports are taken as this node's too ("" if none) */
	char pending_serial[STORE_SERIAL_MAX];
};

/* A certificate refused as a node's (store_attempt_record). */
struct store_attempt {
	char node_id[STORE_ID_MAX]; /* the node ID the certificate names */
	char serial[STORE_SERIAL_MAX];
	char address[STORE_TEXT_MAX]; /* where it came from, last time */
	bool known;                   /* node_id is a node of the cluster */
	int64_t first_at, last_at;
	uint64_t count;
};

struct store_enrolment {
	char serial[STORE_SERIAL_MAX];
	int64_t at;
	char how[32];
};

struct store_observation {
	char node_id[STORE_ID_MAX];
	char peer_id[STORE_ID_MAX];
	enum kma_direction direction;
	enum kma_cause cause;
	int alert_sent;     /* TLS alert number, -1 when none */
	int alert_received; /* -1 when none */
	char peer_serial[STORE_SERIAL_MAX];
	char expected_serial[STORE_SERIAL_MAX];
	int64_t at;
	char detail[STORE_TEXT_MAX];
	char peer_node_id[STORE_ID_MAX]; /* the node ID the peer's certificate named, "" if none */
	/* The certificate the peer presented, so the diagnosis can tell whose fault a failure
	 * is: its issuer's DN, its validity (0: unknown), and where the observer reached it. */
	char peer_issuer[STORE_TEXT_MAX];
	int64_t peer_not_before, peer_not_after;
	char peer_address[STORE_TEXT_MAX];
};

/*
 * An observation to store (store_report_put), pointing into the caller's report. Each
 * string is stored cut to the size of its field in struct store_observation; NULL as "".
 * (The key, peer_id and direction, must be set.)
 */
struct store_obs_in {
	const char *peer_id;
	enum kma_direction direction; /* in range (kma_direction_id) */
	enum kma_cause cause;         /* in range (kma_cause_id) */
	int alert_sent;
	int alert_received;
	const char *peer_serial;
	const char *expected_serial;
	int64_t at;
	const char *detail;
	const char *peer_node_id;
	const char *peer_issuer;
	int64_t peer_not_before, peer_not_after;
	const char *peer_address;
};

/* The longest string field f of struct store_observation can hold (its size less the NUL). */
#define STORE_OBS_CUT(f) (sizeof(((struct store_observation *)0)->f) - 1)

#define STORE_LISTENQ_MAX 4 /* listening ports a report's facts keep (an agent sends two) */

/* A listening port of the node, as its agent measured it (hal/listenq.h). */
struct store_listenq {
	uint32_t port;
	char role[32];    /* as the agent named it */
	bool key_service; /* the board's key service port (role "key_service"), else the mesh's */
	bool listening;
	uint32_t queued, backlog;
	uint64_t dropped_recently; /* ListenDrops over window_s */
	uint32_t window_s;
};

/* The agent's last check of its key service over KMIP. */
struct store_kmip {
	char endpoint[STORE_TEXT_MAX];
	char operation[32];
	enum kma_kmip_result result;
	enum kma_cause cause;
	uint32_t latency_ms, handshake_ms;
	char cipher_suite[96];
	char result_status[64];
	char result_reason[64];
	char answer[STORE_TEXT_MAX];
	char detail[STORE_TEXT_MAX];
	int64_t checked_at;
};

/* How the node's board performs a recovery step (its [recovery] section). */
struct store_step_mode {
	bool set; /* the report named this step; else it is automatic */
	bool manual;
	char instruction[STORE_TEXT_MAX];
};

/*
 * What a node's last report says of the node itself, typed once at intake: the backend
 * stores these, not the report. Strings longer than their field are cut.
 */
struct store_facts {
	char boot_id[STORE_BOOT_MAX];
	bool has_cert; /* the report described its own certificate */
	char cert_serial[STORE_SERIAL_MAX];
	int64_t cert_not_after;
	bool health_known, healthy; /* its key service, when the report says */
	char health_detail[STORE_TEXT_MAX];
	int64_t health_checked_at;
	bool kmip_known;
	struct store_kmip kmip;
	struct store_listenq lq[STORE_LISTENQ_MAX];
	size_t n_lq;
	uint32_t parts_changed; /* bit (1u << enum kma_part) per part replaced */
	uint64_t table_version; /* of the peer table it runs with */
	/* the last directive it accepted or refused ("" when none) */
	char last_directive[48];
	bool last_ok;
	char last_detail[STORE_TEXT_MAX];
	int64_t last_done_at; /* 0 while it still runs */
	uint64_t fencing;     /* the highest lease fencing token it has accepted */
	struct store_step_mode modes[KMA_STEP_KIND_COUNT]; /* by step kind */
};

/*
 * One report as stored: the decoded summary and the node's facts.
 *
 * Reports never go back. An agent's incarnation is (boot_id, instance); the reports of one
 * are ordered by sequence. A report of the incarnation last stored whose sequence is not
 * higher is stale (an older agent, instance 0, is not ordered by sequence: it starts it
 * again when it restarts). A report of another incarnation replaces it, unless that
 * incarnation is one the node's reports already replaced (among the last STORE_RETIRED_MAX):
 * a report the old boot sent before a reboot that arrives after the new boot's is stale.
 */
struct store_report {
	const char *node_id;
	/* The serial of the certificate it came with, which must be the node's enrolled serial
	 * or the one a rejoin accepts (store_node_set_pending); NULL: not checked. */
	const char *cert_serial;
	const char *boot_id; /* NULL: "" */
	const char *address; /* where it came from; NULL: "" */
	uint64_t instance;
	uint64_t sequence;
	int64_t received_at;
	enum kma_state state;            /* in range (kma_state_id) */
	const struct store_facts *facts; /* NULL: none are known (stored as such) */
	/*
	 * An observation whose only change is a time later by less than this many seconds is
	 * not written again (0: every change is), so that the probes' moving times do not
	 * rewrite every row of every report.
	 */
	int64_t at_slack;
};

/*
 * Opens (creating if needed) the database at path, sets WAL, synchronous=FULL and a busy
 * timeout, creates or migrates the schema and prepares the statements. Idempotent on an
 * existing file. *out is the caller's to store_close.
 */
enum store_status store_open(const char *path, struct store **out)
    __attribute__((warn_unused_result));

/* Finalises the statements and closes the database; NULL is fine. */
void store_close(struct store *st);

/*
 * This handle's commits no longer copy the WAL into the database when it passes 1000
 * pages (SQLite's automatic checkpoint, which syncs the file in the committing thread):
 * store_checkpoint, called often from another handle, does it instead.
 */
void store_defer_checkpoints(struct store *st);

/*
 * Copies what the WAL holds into the database as far as no reader needs it (a passive
 * checkpoint: it waits for no one); once the WAL has grown past 32 MB, copies the rest
 * while this process's writers wait, so that the WAL starts over.
 */
enum store_status store_checkpoint(struct store *st) __attribute__((warn_unused_result));

/*
 * Adds a node (created_at = now); when n->enrolled_serial is not empty it is also recorded
 * in the enrolment history with how "add". Bumps the peer table version. STORE_EXISTS when
 * a node with that ID exists.
 */
enum store_status store_node_add(struct store *st, const struct store_node *n, int64_t now)
    __attribute__((warn_unused_result));

/*
 * store_node_add, and in the same transaction an enrolment token for the new node:
 * token_sha256 (lowercase hex SHA-256 of the token; the token itself is never stored),
 * valid until expires_at.
 */
enum store_status store_node_add_with_token(struct store *st, const struct store_node *n,
                                            int64_t now, const char *token_sha256,
                                            int64_t expires_at) __attribute__((warn_unused_result));

/*
 * Issues an enrolment token for an existing node: stores token_sha256 valid until
 * expires_at and deletes every unused token of that node (a used one stays, so it is still
 * told apart as used). STORE_NOT_FOUND when there is no such node.
 */
enum store_status store_token_issue(struct store *st, const char *node_id, const char *token_sha256,
                                    int64_t expires_at) __attribute__((warn_unused_result));

/*
 * Checks, without changing anything, that token_sha256 is an unused token of node_id still
 * valid at now. STORE_OK, STORE_TOKEN_UNKNOWN (also when its node no longer exists),
 * STORE_TOKEN_OTHER_NODE, STORE_TOKEN_USED, STORE_TOKEN_EXPIRED, checked in that order.
 */
enum store_status store_token_check(struct store *st, const char *token_sha256, const char *node_id,
                                    int64_t now) __attribute__((warn_unused_result));

/*
 * Redeems a token in one transaction: the checks of store_token_check, then marks the
 * token used at now, keeps with it the certificate issued for it (cert_der, cert_len
 * bytes; none when cert_len is 0) for store_token_issued, records serial (canonical hex,
 * the certificate's) as the node's enrolled serial with history how "quickstart" and bumps
 * the peer table version. On any refusal nothing is written; a token is redeemed at most
 * once even if two callers race.
 */
enum store_status store_token_redeem(struct store *st, const char *token_sha256,
                                     const char *node_id, const char *serial,
                                     const unsigned char *cert_der, size_t cert_len, int64_t now)
    __attribute__((warn_unused_result));

/*
 * The certificate a used token of node_id was redeemed for, for a node that never got the
 * answer to its enrolment (the connection or the coordinator died after the redemption) and
 * asks again: its serial into serial (STORE_SERIAL_MAX bytes) and its DER into a new buffer
 * (*der, free()) of *len bytes. Only while the token would still be valid at now and that
 * serial is still the node's enrolled serial: STORE_NOT_FOUND otherwise (no such used token
 * of that node, expired, superseded since, or redeemed without a certificate).
 */
enum store_status store_token_issued(struct store *st, const char *token_sha256,
                                     const char *node_id, int64_t now, char *serial,
                                     unsigned char **der, size_t *len)
    __attribute__((warn_unused_result));

/*
 * Deletes a node with its last report, its observations and its enrolment tokens (the
 * enrolment history stays).
 * Bumps the peer table version. STORE_NOT_FOUND when there is no such node.
 */
enum store_status store_node_delete(struct store *st, const char *node_id)
    __attribute__((warn_unused_result));

/*
 * Records serial (canonical hex) as the node's enrolled serial and appends it to the
 * history with how ("put", "enrol", ...). Bumps the peer table version. A serial that is
 * not "" (as store_token_redeem's) also clears the node's pending serial and forgets the
 * certificates refused as the node's (store_attempt_record): that is settled now.
 */
enum store_status store_node_set_serial(struct store *st, const char *node_id, const char *serial,
                                        const char *how, int64_t now)
    __attribute__((warn_unused_result));

/* One node with its last report summary. */
enum store_status store_node_get(struct store *st, const char *node_id, struct store_node *out)
    __attribute__((warn_unused_result));

/* Every node, ordered by node ID, into a new array (*out, free()) of *count entries. */
enum store_status store_nodes_list(struct store *st, struct store_node **out, size_t *count)
    __attribute__((warn_unused_result));

/* The node's enrolment history, oldest first, into a new array the caller frees. */
enum store_status store_enrolments(struct store *st, const char *node_id,
                                   struct store_enrolment **out, size_t *count)
    __attribute__((warn_unused_result));

/* A serial the cluster CA revokes (store_revoked). */
struct store_revoked {
	char serial[STORE_SERIAL_MAX];
	int64_t at; /* when it stopped being its node's serial */
};

/* Revoked serials listed at most (the newest), so the CRL and the replies stay bounded. */
#define STORE_REVOKED_MAX 1024

/*
 * The revoked serials, derived from the enrolment history on every call (they have no state
 * of their own): every serial the history holds that is now neither the enrolled serial nor
 * the serial a rejoin accepts (pending_serial) of any node. That is a serial superseded by a
 * re-enrolment (QuickStart, set serial), removed (a rejoin sets ""), or its node's when the
 * node was deleted; a serial set back as a node's is current again, not revoked. Each serial
 * once, with the time it stopped being its node's: the time of that node's next history entry
 * after the serial's last enrolment, or, for the serial a node had when it was deleted
 * (deletion writes no history), the time it was enrolled. Newest first, at most
 * STORE_REVOKED_MAX: older ones drop off (peers still refuse them: no node pins them).
 * Into a new array (free()).
 */
enum store_status store_revoked(struct store *st, struct store_revoked **out, size_t *count)
    __attribute__((warn_unused_result));

/* The peer table version: 0 for a new database, +1 on every change of nodes or serials. */
enum store_status store_peer_table_version(struct store *st, uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * Reports are stored in batches, one transaction for a batch (group commit: its cost is
 * paid once for every report a busy coordinator has waiting): store_reports_begin, then
 * store_report_put for each, then store_reports_commit, or store_reports_abort after an
 * error. Reads through st in between see the batch's writes; nothing else may write
 * through st until the batch ends. A batch's reports are committed without waiting for the
 * disk (see the top of this file).
 */
enum store_status store_reports_begin(struct store *st) __attribute__((warn_unused_result));

/*
 * Counts the batch's stored reports as accepted (store_rejects_get with
 * STORE_ACCEPTED_STATUS) and commits them; on failure nothing of the batch is kept.
 */
enum store_status store_reports_commit(struct store *st) __attribute__((warn_unused_result));

/* Ends a batch keeping nothing of it. */
void store_reports_abort(struct store *st);

/*
 * Stores a report: replaces the node's last report and, for each of obs, the observation
 * with the same (node, peer, direction); others stay. Nothing is written, and the batch
 * goes on, for STORE_NOT_FOUND (the node is not in the cluster), STORE_NOT_PINNED and
 * STORE_STALE (struct store_report). In a batch, any other failure leaves the batch
 * only to abort; outside one, the report is a batch of its own (committed, and counted).
 */
enum store_status store_report_put(struct store *st, const struct store_report *r,
                                   const struct store_obs_in *obs, size_t n_obs)
    __attribute__((warn_unused_result));

/*
 * Sets the serial whose reports are taken as node_id's besides its enrolled one ("" for
 * none): a rejoin accepts the certificate the node presents until it enrols a new one
 * (enrolling any serial clears it). STORE_NOT_FOUND when there is no such node.
 */
enum store_status store_node_set_pending(struct store *st, const char *node_id, const char *serial)
    __attribute__((warn_unused_result));

/*
 * Remembers that a certificate naming node_id with serial was refused as that node's,
 * coming from address (known: node_id is a node of the cluster); counts repeats. Only the
 * newest STORE_ATTEMPTS_MAX (node, serial) are kept. Its own transaction (not in a batch).
 */
enum store_status store_attempt_record(struct store *st, const char *node_id, const char *serial,
                                       const char *address, bool known, int64_t now)
    __attribute__((warn_unused_result));

/* Every remembered refusal, by node and newest first, into a new array (free()). */
enum store_status store_attempts_list(struct store *st, struct store_attempt **out, size_t *count)
    __attribute__((warn_unused_result));

/*
 * The facts of the node's last report. STORE_NOT_FOUND when it has none: no report, or one
 * stored before facts were (a database of schema 9 or older, until the node reports again).
 */
enum store_status store_facts_get(struct store *st, const char *node_id, struct store_facts *out)
    __attribute__((warn_unused_result));

/* Every observation, ordered by node, peer and direction, into a new array (free()). */
enum store_status store_observations_list(struct store *st, struct store_observation **out,
                                          size_t *count) __attribute__((warn_unused_result));

/* Adds one to the count of reports rejected with HTTP status. */
enum store_status store_reject_count(struct store *st, int status)
    __attribute__((warn_unused_result));

/* Reports are counted by HTTP status; accepted ones (store_report_put) under this one. */
#define STORE_ACCEPTED_STATUS 200

/* The count of reports rejected with status, or accepted for STORE_ACCEPTED_STATUS (0 when
 * none). */
enum store_status store_rejects_get(struct store *st, int status, uint64_t *count)
    __attribute__((warn_unused_result));

#endif
