# Fault tests through a real FUSE mount of a cairn-local cluster (bash
# scripts, BIN_DIR as their argument; they need /dev/fuse and fusermount3).
# Included by tests/integration/CMakeLists.txt.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  set(_mf_dir ${CMAKE_CURRENT_SOURCE_DIR})
  foreach(t test_22_mount_cs_kill test_23_mount_master_kill)
    add_test(NAME ${t} COMMAND bash ${_mf_dir}/${t}.sh ${CMAKE_BINARY_DIR}/bin)
    set_tests_properties(${t} PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
  endforeach()
endif()
