#ifndef KMA_AGENT_DIRECTIVE_H
#define KMA_AGENT_DIRECTIVE_H

/*
 * Directives from the coordinator (CoordinatorReply.directives): which ones the agent may
 * act on, and the record that makes acting at most once.
 *
 * Rules (directive_check): the id is non-empty printable ASCII of at most 64 bytes and the
 * kind is known. A disruptive kind (REBOOT, FACTORY_RESET, QUICKSTART) also needs a lease
 * for our node ID that has not expired and whose fencing token is above the highest this
 * agent ever accepted; QUICKSTART needs an enrolment token. JOIN, UPDATE_PEERS and HOLD
 * need no lease.
 *
 * The record (<state_dir>/directive, mode 0600, replaced atomically) holds the last
 * directive the agent accepted or refused, what became of it, the highest fencing token it
 * accepted and the boot ID when it was written. A directive whose id is the record's is
 * never acted on again. File format (integers big-endian):
 *   8 bytes   magic "KMADIR01"
 *   8 bytes   highest accepted fencing token
 *   64 bytes  boot ID when written, NUL-padded (at least one NUL)
 *   4 bytes   payload length N
 *   N bytes   payload: a packed kma.v1.DirectiveResult
 *   32 bytes  SHA-256 over everything before it
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal.h"
#include "kma.pb-c.h"

#define DIRECTIVE_FILE       "directive"
#define DIRECTIVE_ID_MAX     64
#define DIRECTIVE_TOKEN_MAX  256
#define DIRECTIVE_DETAIL_MAX 256
#define DIRECTIVE_FILE_MAX   4096

/* directive_check's verdict: accept, or the reason for a refusal. */
enum directive_verdict {
	DIRECTIVE_ACCEPT = 0,
	DIRECTIVE_BAD_ID,        /* no usable id: cannot even be answered, only logged */
	DIRECTIVE_UNKNOWN_KIND,  /* kind unspecified or not one we know */
	DIRECTIVE_NO_LEASE,      /* disruptive kind without a lease */
	DIRECTIVE_LEASE_NODE,    /* the lease is for another node (or names none) */
	DIRECTIVE_LEASE_EXPIRED, /* expires_at is not after now */
	DIRECTIVE_FENCING_STALE, /* fencing token not above the highest accepted */
	DIRECTIVE_NO_TOKEN,      /* QUICKSTART without a usable enrolment token */
};

/*
 * Decides whether the agent may act on d, as node node_id at real time now, having
 * accepted fencing tokens up to highest. On a refusal why says, for people and for the
 * report, what was wrong (never the enrolment token; strings from d are cleaned). Pure.
 */
enum directive_verdict directive_check(const Kma__V1__Directive *d, const char *node_id,
                                       int64_t now, uint64_t highest, char *why, size_t size);

/* REBOOT, FACTORY_RESET and QUICKSTART: they need a lease and are done at most once. */
bool directive_disruptive(Kma__V1__DirectiveKind kind);

/* True for the kinds this agent knows (directive_kind_name names them). */
bool directive_kind_known(Kma__V1__DirectiveKind kind);

/* "reboot", "factory_reset", ...; "unknown" for other values. */
const char *directive_kind_name(Kma__V1__DirectiveKind kind);

/* The last directive handled, as persisted. */
struct directive_record {
	char id[DIRECTIVE_ID_MAX + 1];
	Kma__V1__DirectiveKind kind;
	bool ok;
	char detail[DIRECTIVE_DETAIL_MAX];
	int64_t done_at;           /* 0 while the action is under way */
	uint64_t fencing;          /* the highest fencing token accepted so far */
	char boot_id[HAL_BOOT_ID]; /* when this was written: tells whether a reboot happened */
};

enum directive_rec_status {
	DIRECTIVE_REC_OK = 0,
	DIRECTIVE_REC_NONE,    /* no record: no directive was ever handled */
	DIRECTIVE_REC_CORRUPT, /* present but unusable: why says how */
	DIRECTIVE_REC_IO,      /* cannot be read or written */
};

/* Encodes rec into a new buffer the caller frees. DIRECTIVE_REC_OK or _IO (memory). */
enum directive_rec_status directive_encode(const struct directive_record *rec, uint8_t **out,
                                           size_t *len) __attribute__((warn_unused_result));

/* Decodes a whole file's bytes (untrusted). On failure *rec is zeroed and why says why. */
enum directive_rec_status directive_decode(const uint8_t *buf, size_t len,
                                           struct directive_record *rec, char *why, size_t size)
    __attribute__((warn_unused_result));

/* Reads <state_dir>/directive. */
enum directive_rec_status directive_load(const char *state_dir, struct directive_record *rec,
                                         char *why, size_t size)
    __attribute__((warn_unused_result));

/* Replaces <state_dir>/directive atomically (temp file, fsync, rename, fsync dir), 0600. */
enum directive_rec_status directive_store(const char *state_dir, const struct directive_record *rec,
                                          char *why, size_t size)
    __attribute__((warn_unused_result));

/* The wire message for rec (strings borrowed from rec). */
void directive_result_msg(const struct directive_record *rec, Kma__V1__DirectiveResult *m);

#endif
