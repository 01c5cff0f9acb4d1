# Fault tests through a real FUSE mount of a cairn-local cluster: bash
# scripts taking the bin dir, sharing mount_lib.sh (random free base port,
# cleanup trap, timeouts around every command on the mount). They need
# /dev/fuse and fusermount3 (root). Each runs alone (RUN_SERIAL): a loaded
# machine turns timing checks into noise. Included by CMakeLists.txt here.
# Every test name holds "mount": `ctest -R mount` runs them all.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  set(_mf_dir ${CMAKE_CURRENT_SOURCE_DIR})
  # name  script  timeout(s)
  set(_mf_tests
      "test_22_mount_cs_kill\;test_22_mount_cs_kill.sh\;240"
      "test_23_mount_master_kill\;test_23_mount_master_kill.sh\;240"
      "test_24_mount_corrupt\;test_24_mount_corrupt.sh\;180"
      "test_25_mount_bad_input\;test_25_bad_input.sh\;180"
      "test_26_mount_unreachable\;test_26_mount_unreachable.sh\;120")
  foreach(t ${_mf_tests})
    list(GET t 0 _name)
    list(GET t 1 _script)
    list(GET t 2 _timeout)
    add_test(NAME ${_name} COMMAND bash ${_mf_dir}/${_script} ${CMAKE_BINARY_DIR}/bin)
    set_tests_properties(${_name} PROPERTIES TIMEOUT ${_timeout} RUN_SERIAL TRUE)
  endforeach()
endif()
