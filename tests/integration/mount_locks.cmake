# File locks through two FUSE mounts of one cairn-local cluster
# (test_27_mount_locks.sh) with locktool, a small fcntl/flock driver that
# bench/lock_bench.sh uses too. Needs /dev/fuse and root, like the other
# mount suites. Included by CMakeLists.txt here.
add_executable(locktool ${CMAKE_CURRENT_LIST_DIR}/locktool.c)
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_27_mount_locks
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_27_mount_locks.sh ${CMAKE_BINARY_DIR}/bin
                   $<TARGET_FILE:locktool>)
  set_tests_properties(test_27_mount_locks PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE)
endif()
