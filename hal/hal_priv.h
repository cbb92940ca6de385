#ifndef KMA_HAL_PRIV_H
#define KMA_HAL_PRIV_H

/* Shared between the HAL's modules and backends; not for the agent. */

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

extern const struct hal_ops hal_linux_ops;
extern const struct hal_ops hal_sim_ops;

/*
 * Records why an operation failed in hal->error (and errnum in hal->last_errno); when
 * errnum is nonzero ": <strerror>" is appended.
 */
void hal_set_error(struct hal *hal, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* SHA-256 of one buffer; 0 on success (only hardware-accelerated builds can fail). */
int hal_sha256(const void *data, size_t len, uint8_t out[HAL_FP_LEN])
    __attribute__((warn_unused_result));

/* Operations both backends share: the kernel's random source and real-time clock. */
enum hal_status hal_sys_random(struct hal *hal, void *buf, size_t len);
int64_t hal_sys_time_real(struct hal *hal);

/* "<a>/<b>" into out; false (and out empty) when it does not fit. */
bool hal_path_join(char *out, size_t size, const char *a, const char *b);

/* Replaces bytes that are not printable ASCII, so hardware strings are safe to send. */
void hal_clean_id(char *s);

#endif
