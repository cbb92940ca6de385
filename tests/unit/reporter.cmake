# free() wrapped: the test checks that key material is zeroised before it is freed.
kma_unit_test(test_reporter SOURCES unit/test_reporter.c LIBS kma_agent)
target_link_options(test_reporter PRIVATE -Wl,--wrap=free)
