# Tests through a real FUSE mount of a cairn-local cluster: POSIX behaviour
# (mount_posix.c, run by test_20_mount_posix.sh) and data integrity of
# 200 MiB of files plus 2,000 small ones (test_21_mount_data.sh). Both need
# /dev/fuse and root (drop_caches, setresuid); the scripts take the bin dir.
if(TARGET cairn-mount AND TARGET cairn AND TARGET cairn-chunkserver)
  add_executable(mount_posix ${CMAKE_CURRENT_LIST_DIR}/mount_posix.c)
  add_dependencies(mount_posix cairn-mount cairn cairn-chunkserver cairn-master cairn-disk)

  add_test(NAME test_20_mount_posix
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_20_mount_posix.sh ${CMAKE_BINARY_DIR}/bin
                   $<TARGET_FILE:mount_posix>)
  set_tests_properties(test_20_mount_posix PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)

  add_test(NAME test_21_mount_data
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_21_mount_data.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_21_mount_data PROPERTIES TIMEOUT 420 RUN_SERIAL TRUE)
endif()
