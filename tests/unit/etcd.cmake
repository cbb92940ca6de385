# The driver of kma-coord's etcd client for tests/e2e/test_etcd_client.sh
# ($KMA_BUILD_DIR/tests/etcd_driver), against a real etcd cluster and a hostile gateway.
add_executable(etcd_driver ${CMAKE_CURRENT_SOURCE_DIR}/tools/etcd_driver.c)
target_link_libraries(etcd_driver PRIVATE kma_coord_etcd)
