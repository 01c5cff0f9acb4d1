# POSIX ACLs and supplementary groups through a FUSE mount of a cairn-local
# cluster (test_43_mount_acl.sh): setfacl/getfacl (Debian package `acl`)
# and setpriv to act as other users. Needs /dev/fuse and root. Included by
# CMakeLists.txt here.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_43_mount_acl
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_43_mount_acl.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_43_mount_acl PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE)
endif()
