# kmactl, the operator CLI (included from coordinator/CMakeLists.txt). Its logic is a
# library so tests/unit/test_ctl.c links the code the program runs; it needs neither the
# coordinator's server libraries nor mbedTLS, only libcurl and json-c.
add_library(kma_ctl STATIC ctl_config.c ctl_http.c ctl_table.c ctl_mesh.c ctl_nodes.c
	ctl_diag.c ctl_cmd.c ctl_plan.c)
target_include_directories(kma_ctl PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(kma_ctl PUBLIC
	KMACTL_DEFAULT_CONFIG="${CMAKE_INSTALL_FULL_SYSCONFDIR}/kma-agent/kmactl.conf")
target_link_libraries(kma_ctl PUBLIC kma_common PkgConfig::CURL PkgConfig::JSONC)

add_executable(kmactl kmactl.c)
target_link_libraries(kmactl PRIVATE kma_ctl)
install(TARGETS kmactl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
