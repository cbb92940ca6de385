kma_unit_test(test_config SOURCES unit/test_config.c LIBS kma_agent)
kma_unit_test(test_identity SOURCES unit/test_identity.c LIBS kma_agent)
kma_unit_test(test_classify SOURCES unit/test_classify.c LIBS kma_agent)
