# Metadata safety suites (issue 8) through a cairn-local cluster with
# metaloggers and the FUSE mount: bash scripts taking the bin dir, sharing
# mount_lib.sh. Included by CMakeLists.txt here; `ctest -R meta` runs them.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount AND TARGET cairn-metalogger)
  add_test(NAME test_40_meta_metalogger
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_40_metalogger.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_40_meta_metalogger PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()
