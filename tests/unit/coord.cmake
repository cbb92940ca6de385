kma_unit_test(test_store SOURCES unit/test_store.c LIBS kma_coord)
kma_unit_test(test_report SOURCES unit/test_report.c LIBS kma_coord)
kma_unit_test(test_enroll SOURCES unit/test_enroll.c LIBS kma_coord)
kma_unit_test(test_metrics SOURCES unit/test_metrics.c LIBS kma_coord)
kma_unit_test(test_engine SOURCES unit/test_engine.c LIBS kma_coord)
kma_unit_test(test_throttle SOURCES unit/test_throttle.c LIBS kma_coord)

# Protobuf helper for tests/e2e/test_coord.sh (found as $KMA_BUILD_DIR/tests/mkreport).
add_executable(mkreport ${CMAKE_CURRENT_SOURCE_DIR}/tools/mkreport.c)
target_link_libraries(mkreport PRIVATE kma_proto)

# LD_PRELOAD shim that models a power cut under kma-coord (tests/e2e/test_coord_powercut.sh).
if(NOT CMAKE_CROSSCOMPILING)
	find_package(Threads REQUIRED)
	add_library(powercut MODULE ${CMAKE_CURRENT_SOURCE_DIR}/tools/powercut.c)
	target_compile_definitions(powercut PRIVATE _GNU_SOURCE)
	# It defines open() and open64() itself: no header may turn one into the other.
	target_compile_options(powercut PRIVATE -U_FORTIFY_SOURCE -U_FILE_OFFSET_BITS)
	target_link_libraries(powercut PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
endif()
# The CRL writer (coordinator/core/crl.c) and the receiver's check (common/crlcheck.c).
kma_unit_test(test_crl SOURCES unit/test_crl.c LIBS kma_coord)
