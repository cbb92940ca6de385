# The sim's injected faults (wedge, reboot re-exec), directive validation and the persisted
# directive record.
kma_unit_test(test_sim_faults SOURCES unit/test_sim_faults.c
	LIBS kma_hal kma_board kma_proto kma_common)
