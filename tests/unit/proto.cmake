kma_unit_test(test_proto SOURCES unit/test_proto.c LIBS kma_proto)
