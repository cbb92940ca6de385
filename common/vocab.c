#include "vocab.h"

#include <string.h>

struct cause_entry {
	const char *id;
	const char *meaning;
	const char *remedy;
};

static const struct cause_entry causes[KMA_CAUSE_COUNT] = {
    [KMA_CAUSE_UNSPECIFIED] = {"unspecified", "no cause recorded", "none"},
#define KMA_CAUSE(e, id, meaning, remedy) [KMA_CAUSE_##e] = {id, meaning, remedy},
#include "vocab.def"
#undef KMA_CAUSE
};

static const char *const state_ids[KMA_STATE_COUNT] = {
    [KMA_STATE_UNSPECIFIED] = "unspecified",
#define KMA_STATE(e, id, meaning) [KMA_STATE_##e] = id,
#include "vocab.def"
#undef KMA_STATE
};

static const char *const state_meanings[KMA_STATE_COUNT] = {
    [KMA_STATE_UNSPECIFIED] = "state not determined",
#define KMA_STATE(e, id, meaning) [KMA_STATE_##e] = meaning,
#include "vocab.def"
#undef KMA_STATE
};

static const char *const phase_ids[KMA_PHASE_COUNT] = {
    [KMA_PHASE_UNSPECIFIED] = "unspecified",
#define KMA_PHASE(e, id) [KMA_PHASE_##e] = id,
#include "vocab.def"
#undef KMA_PHASE
};

static const char *const direction_ids[KMA_DIRECTION_COUNT] = {
    [KMA_DIRECTION_UNSPECIFIED] = "unspecified",
#define KMA_DIRECTION(e, id) [KMA_DIRECTION_##e] = id,
#include "vocab.def"
#undef KMA_DIRECTION
};

static const char *const pattern_ids[KMA_PATTERN_COUNT] = {
    [KMA_PATTERN_UNSPECIFIED] = "unspecified",
#define KMA_PATTERN(e, id) [KMA_PATTERN_##e] = id,
#include "vocab.def"
#undef KMA_PATTERN
};

static const char *const part_ids[KMA_PART_COUNT] = {
    [KMA_PART_UNSPECIFIED] = "unspecified",
#define KMA_PART(e, id) [KMA_PART_##e] = id,
#include "vocab.def"
#undef KMA_PART
};

static const struct cause_entry kmip_results[KMA_KMIP_RESULT_COUNT] = {
    [KMA_KMIP_RESULT_UNSPECIFIED] = {"unspecified", "no KMIP check recorded", "none"},
#define KMA_KMIP_RESULT(e, id, meaning, remedy) [KMA_KMIP_RESULT_##e] = {id, meaning, remedy},
#include "vocab.def"
#undef KMA_KMIP_RESULT
};

/* ids[v], or ids[0] when v is out of range (each table has its [0]). */
static const char *id_of(const char *const *ids, int count, int v)
{
	return v >= 0 && v < count ? ids[v] : ids[0];
}

/* The value whose identifier is id (from 1), or 0. */
static int from_id(const char *const *ids, int count, const char *id)
{
	for (int i = 1; id && i < count; i++)
		if (strcmp(ids[i], id) == 0)
			return i;
	return 0;
}

const char *kma_kmip_result_id(enum kma_kmip_result r)
{
	return kmip_results[(unsigned)r < KMA_KMIP_RESULT_COUNT ? r : 0].id;
}

const char *kma_kmip_result_meaning(enum kma_kmip_result r)
{
	return kmip_results[(unsigned)r < KMA_KMIP_RESULT_COUNT ? r : 0].meaning;
}

const char *kma_kmip_result_remedy(enum kma_kmip_result r)
{
	return kmip_results[(unsigned)r < KMA_KMIP_RESULT_COUNT ? r : 0].remedy;
}

const char *kma_cause_id(enum kma_cause cause)
{
	return (unsigned)cause < KMA_CAUSE_COUNT ? causes[cause].id : causes[0].id;
}

const char *kma_cause_meaning(enum kma_cause cause)
{
	return (unsigned)cause < KMA_CAUSE_COUNT ? causes[cause].meaning : causes[0].meaning;
}

const char *kma_cause_remedy(enum kma_cause cause)
{
	return (unsigned)cause < KMA_CAUSE_COUNT ? causes[cause].remedy : causes[0].remedy;
}

const char *kma_state_id(enum kma_state state)
{
	return id_of(state_ids, KMA_STATE_COUNT, (int)state);
}

const char *kma_state_meaning(enum kma_state state)
{
	return id_of(state_meanings, KMA_STATE_COUNT, (int)state);
}

const char *kma_phase_id(enum kma_phase phase)
{
	return id_of(phase_ids, KMA_PHASE_COUNT, (int)phase);
}

const char *kma_part_id(enum kma_part part)
{
	return id_of(part_ids, KMA_PART_COUNT, (int)part);
}

/* The entry of table t (n of them) whose identifier is id; 0 (unspecified) when none. */
static int entry_from_id(const struct cause_entry *t, int n, const char *id)
{
	for (int i = 1; id && i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return i;
	return 0;
}

enum kma_cause kma_cause_from_id(const char *id)
{
	return (enum kma_cause)entry_from_id(causes, KMA_CAUSE_COUNT, id);
}

enum kma_kmip_result kma_kmip_result_from_id(const char *id)
{
	return (enum kma_kmip_result)entry_from_id(kmip_results, KMA_KMIP_RESULT_COUNT, id);
}

enum kma_state kma_state_from_id(const char *id)
{
	return (enum kma_state)from_id(state_ids, KMA_STATE_COUNT, id);
}

static const char *const step_kind_ids[KMA_STEP_KIND_COUNT] = {
    [KMA_STEP_KIND_UNSPECIFIED] = "unspecified",
#define KMA_STEP_KIND(e, id, disrupts) [KMA_STEP_KIND_##e] = id,
#include "vocab.def"
#undef KMA_STEP_KIND
};

static const bool step_kind_disrupts[KMA_STEP_KIND_COUNT] = {
#define KMA_STEP_KIND(e, id, disrupts) [KMA_STEP_KIND_##e] = disrupts,
#include "vocab.def"
#undef KMA_STEP_KIND
};

static const char *const step_state_ids[KMA_STEP_STATE_COUNT] = {
    [KMA_STEP_STATE_UNSPECIFIED] = "unspecified",
#define KMA_STEP_STATE(e, id) [KMA_STEP_STATE_##e] = id,
#include "vocab.def"
#undef KMA_STEP_STATE
};

static const char *const step_phase_ids[KMA_STEP_PHASE_COUNT] = {
    [KMA_STEP_PHASE_NONE] = "",
#define KMA_STEP_PHASE(e, id) [KMA_STEP_PHASE_##e] = id,
#include "vocab.def"
#undef KMA_STEP_PHASE
};

static const char *const plan_state_ids[KMA_PLAN_STATE_COUNT] = {
    [KMA_PLAN_STATE_UNSPECIFIED] = "unspecified",
#define KMA_PLAN_STATE(e, id) [KMA_PLAN_STATE_##e] = id,
#include "vocab.def"
#undef KMA_PLAN_STATE
};

const char *kma_step_kind_id(enum kma_step_kind k)
{
	return id_of(step_kind_ids, KMA_STEP_KIND_COUNT, (int)k);
}

const char *kma_step_state_id(enum kma_step_state s)
{
	return id_of(step_state_ids, KMA_STEP_STATE_COUNT, (int)s);
}

const char *kma_step_phase_id(enum kma_step_phase p)
{
	return id_of(step_phase_ids, KMA_STEP_PHASE_COUNT, (int)p);
}

const char *kma_plan_state_id(enum kma_plan_state s)
{
	return id_of(plan_state_ids, KMA_PLAN_STATE_COUNT, (int)s);
}

bool kma_step_kind_disrupts(enum kma_step_kind k)
{
	return (unsigned)k < KMA_STEP_KIND_COUNT && step_kind_disrupts[k];
}

enum kma_step_kind kma_step_kind_from_id(const char *id)
{
	return (enum kma_step_kind)from_id(step_kind_ids, KMA_STEP_KIND_COUNT, id);
}

enum kma_step_state kma_step_state_from_id(const char *id)
{
	return (enum kma_step_state)from_id(step_state_ids, KMA_STEP_STATE_COUNT, id);
}

enum kma_step_phase kma_step_phase_from_id(const char *id)
{
	return (enum kma_step_phase)from_id(step_phase_ids, KMA_STEP_PHASE_COUNT, id);
}

enum kma_plan_state kma_plan_state_from_id(const char *id)
{
	return (enum kma_plan_state)from_id(plan_state_ids, KMA_PLAN_STATE_COUNT, id);
}

const char *kma_direction_id(enum kma_direction d)
{
	return id_of(direction_ids, KMA_DIRECTION_COUNT, (int)d);
}

enum kma_direction kma_direction_from_id(const char *id)
{
	return (enum kma_direction)from_id(direction_ids, KMA_DIRECTION_COUNT, id);
}

const char *kma_pattern_id(enum kma_pattern p)
{
	return id_of(pattern_ids, KMA_PATTERN_COUNT, (int)p);
}

enum kma_pattern kma_pattern_from_id(const char *id)
{
	return (enum kma_pattern)from_id(pattern_ids, KMA_PATTERN_COUNT, id);
}
