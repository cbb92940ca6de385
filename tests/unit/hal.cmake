# Board definitions, the HAL (identity store, sim and linux backends) and fileio.
kma_unit_test(test_board SOURCES unit/test_board.c LIBS kma_board kma_common)
kma_unit_test(test_fileio SOURCES unit/test_fileio.c LIBS kma_common)
kma_unit_test(test_idstore SOURCES unit/test_idstore.c
	LIBS kma_hal kma_board kma_proto kma_common)
kma_unit_test(test_hal_sim SOURCES unit/test_hal_sim.c
	LIBS kma_hal kma_board kma_proto kma_common)
kma_unit_test(test_hal_linux SOURCES unit/test_hal_linux.c
	LIBS kma_hal kma_board kma_proto kma_common)

# Not under qemu-user: it runs posix_spawn's child as a plain fork, so spawning a program
# that does not exist "succeeds" and the child exits 127, which the test of an unstartable
# command cannot tell from a real exit status.
if(NOT CMAKE_CROSSCOMPILING)
	kma_unit_test(test_hal_cmd SOURCES unit/test_hal_cmd.c
		LIBS kma_hal kma_board kma_proto kma_common)
endif()

# The privileged helper's answers; as root also a real split to the user nobody.
kma_unit_test(test_privsep SOURCES unit/test_privsep.c
	LIBS kma_hal kma_board kma_proto kma_common)
