# Self-healing fault tests (issue 5) through a cairn-local cluster and its
# FUSE mount: bash scripts taking the bin dir, sharing mount_lib.sh. They
# kill, drain, add and corrupt chunkservers and wait (bounded) for the
# master's health loop to restore redundancy, with short timers
# (CS_TIMEOUT_MS=2s, CS_GRACE_MS=3s). Each runs alone (RUN_SERIAL): repair
# throughput and polls are timing-sensitive. Included by CMakeLists.txt here.
# Every test name holds "heal": `ctest -R heal` runs them all.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  set(_heal_dir ${CMAKE_CURRENT_SOURCE_DIR})
  # name  script  timeout(s): about 3x the ASan run time
  set(_heal_tests
      "test_30_heal_cs_kill\;test_30_heal_cs_kill.sh\;600"
      "test_31_heal_two_kills\;test_31_heal_two_kills.sh\;480"
      "test_32_heal_drain\;test_32_heal_drain.sh\;480"
      "test_33_heal_rebalance\;test_33_heal_rebalance.sh\;600"
      "test_34_heal_scrub\;test_34_heal_scrub.sh\;300"
      "test_35_heal_new_disk\;test_35_heal_new_disk.sh\;480")
  foreach(t ${_heal_tests})
    list(GET t 0 _name)
    list(GET t 1 _script)
    list(GET t 2 _timeout)
    add_test(NAME ${_name} COMMAND bash ${_heal_dir}/${_script} ${CMAKE_BINARY_DIR}/bin)
    set_tests_properties(${_name} PROPERTIES TIMEOUT ${_timeout} RUN_SERIAL TRUE)
  endforeach()
endif()
