# Recovery plans: the pure builder and gates (coordinator/core/plan.c).
kma_unit_test(test_plan SOURCES unit/test_plan.c LIBS kma_coord)
