kma_unit_test(test_sdnotify SOURCES unit/test_sdnotify.c LIBS kma_agent)
