# Mesh diagnosis: a pure function, tested as tables of clusters.
kma_unit_test(test_diag SOURCES unit/test_diag.c LIBS kma_coord)
