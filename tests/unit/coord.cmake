kma_unit_test(test_store SOURCES unit/test_store.c LIBS kma_coord)
kma_unit_test(test_report SOURCES unit/test_report.c LIBS kma_coord)
kma_unit_test(test_enroll SOURCES unit/test_enroll.c LIBS kma_coord)
kma_unit_test(test_metrics SOURCES unit/test_metrics.c LIBS kma_coord)

# Protobuf helper for tests/e2e/test_coord.sh (found as $KMA_BUILD_DIR/tests/mkreport).
add_executable(mkreport ${CMAKE_CURRENT_SOURCE_DIR}/tools/mkreport.c)
target_link_libraries(mkreport PRIVATE kma_proto)
