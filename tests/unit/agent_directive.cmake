# The sim's injected faults (wedge, reboot re-exec), the health worker, directive validation and
# the persisted directive record, and recovery (a directive from receipt to result).
kma_unit_test(test_sim_faults SOURCES unit/test_sim_faults.c
	LIBS kma_hal kma_board kma_proto kma_common)

# Protobuf helper for tests/e2e/test_directives.sh's fake coordinator
# ($KMA_BUILD_DIR/tests/mkdirective).
add_executable(mkdirective ${CMAKE_CURRENT_SOURCE_DIR}/tools/mkdirective.c)
target_link_libraries(mkdirective PRIVATE kma_proto PkgConfig::JSONC)
kma_unit_test(test_directive SOURCES unit/test_directive.c LIBS kma_agent)
kma_unit_test(test_recovery SOURCES unit/test_recovery.c LIBS kma_agent)
kma_unit_test(test_health SOURCES unit/test_health.c LIBS kma_agent)
