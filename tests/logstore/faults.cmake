# Fault and crash suites of the logstore (included from CMakeLists.txt here).
# faultdev.c is the fault-injecting device they share. Tests set no Criterion
# .timeout: with --jobs 2 under ASan it leaks in Criterion's runner (LSan
# aborts); ctest's TIMEOUT bounds them instead.
cairn_test(test_crash SOURCES test_crash.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
cairn_test(test_torn SOURCES test_torn.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
cairn_test(test_corrupt SOURCES test_corrupt.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
cairn_test(test_compact_concurrent SOURCES test_compact_concurrent.c faultdev.c
           LIBS cairn_logstore Threads::Threads TIMEOUT 300)
