# Mesh diagnosis: pure, so it is tested from its source alone.
kma_unit_test(test_diag SOURCES unit/test_diag.c ${PROJECT_SOURCE_DIR}/coordinator/diag.c
	LIBS kma_common)
target_include_directories(test_diag PRIVATE ${PROJECT_SOURCE_DIR}/coordinator)
