# Session resumption and the CRL between probes (agent/probe.c, agent/tlsctx.c) over loopback
# sockets; the CRLs are written with the coordinator's writer (coordinator/core/crl.c).
kma_unit_test(test_resume SOURCES unit/test_resume.c LIBS kma_agent kma_coord)
