# Fault and crash suites of the logstore (included from CMakeLists.txt here).
# faultdev.c is the fault-injecting device the suites share.
cairn_test(test_crash SOURCES test_crash.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
cairn_test(test_torn SOURCES test_torn.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 600)
cairn_test(test_corrupt SOURCES test_corrupt.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_compact_concurrent.c)
  cairn_test(test_compact_concurrent SOURCES test_compact_concurrent.c faultdev.c
             LIBS cairn_logstore Threads::Threads TIMEOUT 300)
endif()
