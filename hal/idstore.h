#ifndef KMA_IDSTORE_H
#define KMA_IDSTORE_H

/*
 * The node identity record on disk: <state_dir>/identity.rec, and the record it replaced
 * in <state_dir>/identity.rec.prev (a hard link kept by every store).
 *
 * File format (all integers big-endian):
 *   8 bytes   magic "KMAIDR01"
 *   4 bytes   payload length N
 *   N bytes   payload: a packed kma.v1.IdentityRecord
 *   32 bytes  SHA-256 over magic, length and payload
 * A record is usable when the framing and checksum are right, it unpacks, its version is
 * IDSTORE_RECORD_VERSION and its node_id is not empty.
 */

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "hal.h"

#define IDSTORE_FILE           "identity.rec"
#define IDSTORE_BACKUP         "identity.rec.prev"
#define IDSTORE_TEMP           IDSTORE_FILE FILEIO_TEMP_SUFFIX /* fileio_write_atomic's */
#define IDSTORE_MAGIC          "KMAIDR01"
#define IDSTORE_MAGIC_LEN      8
#define IDSTORE_HEADER_LEN     12
#define IDSTORE_TRAILER_LEN    32
#define IDSTORE_MAX            (256 * 1024) /* whole file; a record with a chain is ~10 KiB */
#define IDSTORE_RECORD_VERSION 1

/* hal_ops.identity_load/store/erase of every backend that keeps files in state_dir. */
enum hal_status idstore_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                             struct hal_load_info *info) __attribute__((warn_unused_result));
/* Refuses (HAL_ERR_INVALID) a record that load would reject: wrong version, no node_id. */
enum hal_status idstore_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
    __attribute__((warn_unused_result));
/* Removes identity.rec, identity.rec.prev and a leftover temp file; nothing else. */
enum hal_status idstore_erase(struct hal *hal) __attribute__((warn_unused_result));

/* Frames a payload (header + payload + checksum) into a new buffer the caller frees. */
enum hal_status idstore_frame(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * Decodes a whole file's bytes (untrusted). HAL_OK and *out (caller frees with
 * kma__v1__identity_record__free_unpacked) or HAL_ERR_CORRUPT and why (NUL-terminated).
 */
enum hal_status idstore_decode(const uint8_t *buf, size_t len, Kma__V1__IdentityRecord **out,
                               char *why, size_t why_size) __attribute__((warn_unused_result));

#endif
