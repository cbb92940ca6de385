kma_unit_test(test_ctl SOURCES unit/test_ctl.c LIBS kma_ctl)
