kma_unit_test(test_vocab SOURCES unit/test_vocab.c LIBS kma_common kma_proto)
kma_unit_test(test_hexser SOURCES unit/test_hexser.c LIBS kma_common)
kma_unit_test(test_suggest SOURCES unit/test_suggest.c LIBS kma_common)
kma_unit_test(test_urllist SOURCES unit/test_urllist.c LIBS kma_common)
