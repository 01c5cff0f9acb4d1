# Fuzz targets of common/ (included from tests/fuzz/CMakeLists.txt inside
# if(CAIRN_FUZZ)). fuzz_wire: the frame header and every message decoder.
cairn_fuzz(fuzz_wire SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_wire.c LIBS cairn_common)
# fuzz_cls: the class record decoder, SPEC parser and label expressions.
cairn_fuzz(fuzz_cls SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cls.c LIBS cairn_common)
