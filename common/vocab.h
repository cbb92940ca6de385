#ifndef KMA_VOCAB_H
#define KMA_VOCAB_H

/*
 * Stable public vocabularies: failure causes, identity states, agent phases and hardware
 * parts. Identifiers are what the CLI, JSON, docs and metrics print; the numeric values
 * equal the protobuf enum values of proto/kma.proto.
 */

#include <stdbool.h>
#include <stddef.h>

enum kma_cause {
	KMA_CAUSE_UNSPECIFIED = 0,
#define KMA_CAUSE(e, id, meaning, remedy) KMA_CAUSE_##e,
#include "vocab.def"
#undef KMA_CAUSE
	KMA_CAUSE_COUNT
};

enum kma_state {
	KMA_STATE_UNSPECIFIED = 0,
#define KMA_STATE(e, id, meaning) KMA_STATE_##e,
#include "vocab.def"
#undef KMA_STATE
	KMA_STATE_COUNT
};

enum kma_phase {
	KMA_PHASE_UNSPECIFIED = 0,
#define KMA_PHASE(e, id) KMA_PHASE_##e,
#include "vocab.def"
#undef KMA_PHASE
	KMA_PHASE_COUNT
};

enum kma_direction {
	KMA_DIRECTION_UNSPECIFIED = 0,
#define KMA_DIRECTION(e, id) KMA_DIRECTION_##e,
#include "vocab.def"
#undef KMA_DIRECTION
	KMA_DIRECTION_COUNT
};

enum kma_pattern {
	KMA_PATTERN_UNSPECIFIED = 0,
#define KMA_PATTERN(e, id) KMA_PATTERN_##e,
#include "vocab.def"
#undef KMA_PATTERN
	KMA_PATTERN_COUNT
};

enum kma_part {
	KMA_PART_UNSPECIFIED = 0,
#define KMA_PART(e, id) KMA_PART_##e,
#include "vocab.def"
#undef KMA_PART
	KMA_PART_COUNT
};

/* How a KMIP check of the key service ended (agent/kmipcheck.h; kma.proto KmipResult). */
enum kma_kmip_result {
	KMA_KMIP_RESULT_UNSPECIFIED = 0,
#define KMA_KMIP_RESULT(e, id, meaning, remedy) KMA_KMIP_RESULT_##e,
#include "vocab.def"
#undef KMA_KMIP_RESULT
	KMA_KMIP_RESULT_COUNT
};

/* Recovery plans (vocab.def): step kinds, step states, where an active step is, plan states. */
enum kma_step_kind {
	KMA_STEP_KIND_UNSPECIFIED = 0,
#define KMA_STEP_KIND(e, id, disrupts) KMA_STEP_KIND_##e,
#include "vocab.def"
#undef KMA_STEP_KIND
	KMA_STEP_KIND_COUNT
};

enum kma_step_state {
	KMA_STEP_STATE_UNSPECIFIED = 0,
#define KMA_STEP_STATE(e, id) KMA_STEP_STATE_##e,
#include "vocab.def"
#undef KMA_STEP_STATE
	KMA_STEP_STATE_COUNT
};

enum kma_step_phase {
	KMA_STEP_PHASE_NONE = 0,
#define KMA_STEP_PHASE(e, id) KMA_STEP_PHASE_##e,
#include "vocab.def"
#undef KMA_STEP_PHASE
	KMA_STEP_PHASE_COUNT
};

enum kma_plan_state {
	KMA_PLAN_STATE_UNSPECIFIED = 0,
#define KMA_PLAN_STATE(e, id) KMA_PLAN_STATE_##e,
#include "vocab.def"
#undef KMA_PLAN_STATE
	KMA_PLAN_STATE_COUNT
};

/* Identifier of a value ("peer_serial_mismatch"); "unspecified" for 0 or out of range. */
const char *kma_cause_id(enum kma_cause cause);
const char *kma_cause_meaning(enum kma_cause cause);
const char *kma_cause_remedy(enum kma_cause cause);
const char *kma_state_id(enum kma_state state);
const char *kma_state_meaning(enum kma_state state);
const char *kma_phase_id(enum kma_phase phase);
const char *kma_part_id(enum kma_part part);
const char *kma_direction_id(enum kma_direction d);
const char *kma_pattern_id(enum kma_pattern p);
const char *kma_kmip_result_id(enum kma_kmip_result r);
const char *kma_kmip_result_meaning(enum kma_kmip_result r);
const char *kma_kmip_result_remedy(enum kma_kmip_result r);
const char *kma_step_kind_id(enum kma_step_kind k);
const char *kma_step_state_id(enum kma_step_state s);
const char *kma_step_phase_id(enum kma_step_phase p); /* "" for NONE */
const char *kma_plan_state_id(enum kma_plan_state s);

/* True for the step kinds that take their node out of service (they need the lease). */
bool kma_step_kind_disrupts(enum kma_step_kind k);

/* Reverse lookups: the value for an identifier, or 0 (UNSPECIFIED) when unknown. */
enum kma_cause kma_cause_from_id(const char *id);
enum kma_kmip_result kma_kmip_result_from_id(const char *id);
enum kma_state kma_state_from_id(const char *id);
enum kma_direction kma_direction_from_id(const char *id);
enum kma_pattern kma_pattern_from_id(const char *id);
enum kma_step_kind kma_step_kind_from_id(const char *id);
enum kma_step_state kma_step_state_from_id(const char *id);
enum kma_step_phase kma_step_phase_from_id(const char *id);
enum kma_plan_state kma_plan_state_from_id(const char *id);

#endif
