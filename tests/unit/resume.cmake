# Session resumption between probes (agent/probe.c, agent/tlsctx.c) over loopback sockets.
kma_unit_test(test_resume SOURCES unit/test_resume.c LIBS kma_agent)
