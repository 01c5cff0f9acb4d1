# Fuzz targets of common/ (included from tests/fuzz/CMakeLists.txt inside
# if(CAIRN_FUZZ)). fuzz_wire: the frame header and every message decoder.
cairn_fuzz(fuzz_wire SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_wire.c LIBS cairn_common)
