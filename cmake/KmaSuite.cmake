# Every test of the build, in one fixture (issue 16 item 12): suite_begin runs first and
# suite_leftovers last (ctest orders fixture setup and cleanup around every test that
# requires the fixture, with -j too, and ctest -R pulls both in), and the latter fails the
# run when a process of this build outlives the tests (tests/tools/leftovers.py). Every test
# gets TMPDIR=<build>/tmp, so that what a test starts in its temporary directory is known to
# be this build's even when another build's suite runs beside it.

# kma_suite_require(): every test added so far in the calling directory requires the
# fixture and gets TMPDIR (CMake before 3.28 sets a test's properties only in its own
# directory: each CMakeLists.txt that adds tests calls it at its end).
function(kma_suite_require)
	if(CMAKE_CROSSCOMPILING)
		return() # the cross builds' tests run under qemu-user, one program at a time
	endif()
	get_property(tests DIRECTORY PROPERTY TESTS)
	if(tests)
		set_property(TEST ${tests} APPEND PROPERTY FIXTURES_REQUIRED kma_suite)
		set_property(TEST ${tests} APPEND PROPERTY ENVIRONMENT "TMPDIR=${PROJECT_BINARY_DIR}/tmp")
	endif()
endfunction()

# kma_suite_fixture(): the first and the last test (call once, at the top).
function(kma_suite_fixture)
	if(CMAKE_CROSSCOMPILING)
		return()
	endif()
	find_package(Python3 REQUIRED COMPONENTS Interpreter)
	file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/tmp)
	set(stamp ${PROJECT_BINARY_DIR}/suite-start)
	set(tool ${PROJECT_SOURCE_DIR}/tests/tools/leftovers.py)
	add_test(NAME suite_begin COMMAND ${Python3_EXECUTABLE} ${tool} begin ${stamp})
	add_test(NAME suite_leftovers
		COMMAND ${Python3_EXECUTABLE} ${tool} check ${stamp} ${PROJECT_BINARY_DIR})
	set_tests_properties(suite_begin PROPERTIES FIXTURES_SETUP kma_suite LABELS suite)
	set_tests_properties(suite_leftovers PROPERTIES FIXTURES_CLEANUP kma_suite LABELS suite
		TIMEOUT 120)
endfunction()
