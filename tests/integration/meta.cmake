# Metadata safety suites (issue 8) through a cairn-local cluster with
# metaloggers and the FUSE mount: bash scripts taking the bin dir, sharing
# mount_lib.sh. Included by CMakeLists.txt here; `ctest -R meta` runs them.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount AND TARGET cairn-metalogger)
  add_test(NAME test_40_meta_metalogger
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_40_metalogger.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_40_meta_metalogger PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# fsck: plants inconsistencies with fsck_plant (the metadata library's own
# codecs, on the stopped master's database), then `cairn fsck [--repair]`.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_executable(fsck_plant ${CMAKE_CURRENT_SOURCE_DIR}/fsck_plant.c)
  target_link_libraries(fsck_plant PRIVATE cairn_meta)
  add_test(NAME test_41_meta_fsck
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_41_meta_fsck.sh ${CMAKE_BINARY_DIR}/bin
                   $<TARGET_FILE:fsck_plant>)
  set_tests_properties(test_41_meta_fsck PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
endif()

# Trash (issue 9): rm -rf and restore, rename over, expiry, purge.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_42_trash
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_42_trash.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_42_trash PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
endif()

# Directory quotas (issue 9): EDQUOT on bytes and inodes, df, soft/grace.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_44_quota
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_44_quota.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_44_quota PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
endif()

# Snapshots (issue 9): metadata-only copy, copy-on-write, deletes.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_45_snapshot
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_45_snapshot.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_45_snapshot PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# Storage classes (issue 7): built-ins, SPEC errors, inheritance, labels
# strict/loose, moving parts home, class rm/edit, persistence.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_46_class
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_46_class.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_46_class PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# Erasure coding (issue 7): ec=4+2 writes, overwrites, truncates, degraded
# reads under every 1- and 2-server failure, EIO and the lost report at 3.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_47_ec
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_47_ec.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_47_ec PROPERTIES TIMEOUT 480 RUN_SERIAL TRUE)
endif()

# Conversion copies=2 -> ec=4+2 (issue 7): an archive state's conversion
# survives SIGKILL of the converting chunkserver and of the master.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_48_convert
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_48_convert.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_48_convert PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# Zones and backup copies (issue 7): one copy / M parts per zone, repair
# inside the zone, a backup-labelled copy read only when the other fails.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_50_zones
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_50_zones.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_50_zones PROPERTIES TIMEOUT 240 RUN_SERIAL TRUE)
endif()

# A disk that vanishes under a running chunkserver (USB-HDD archive tier):
# reported missing at once, repaired after the grace time, reopened by
# `cairn disk rescan` and by the automatic retry without a restart.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_49_disk_vanish
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_49_disk_vanish.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_49_disk_vanish PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# Zones (issue 7): chunks placed while there was one zone are spread over
# zones when a server of a second zone joins.
if(TARGET cairn AND TARGET cairn-chunkserver AND TARGET cairn-mount)
  add_test(NAME test_51_zone_spread
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_51_zone_spread.sh ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(test_51_zone_spread PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
endif()
