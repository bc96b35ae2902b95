# Warnings for our own code only (dependencies come in as SYSTEM includes via imported targets).
function(meshcast_warnings target)
  # -Wno-restrict: GCC 12 false positive in std::string (GCC bug 105329); clang (fuzz tree)
  # does not know the option.
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
endfunction()

# meshcast_library(NAME SOURCES ... DEPS ...)
function(meshcast_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  meshcast_warnings(${name})
endfunction()

# meshcast_test(NAME SOURCES ... DEPS ... LABEL unit|integration|netlab [TIMEOUT s] [EXE])
# One GoogleTest binary, its cases registered with CTest. EXE: the test runs the meshcast
# binary (path in MESHCAST_EXE, built first).
function(meshcast_test name)
  cmake_parse_arguments(A "EXE" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT MESHCAST_TESTS)
    return()
  endif()
  if(NOT A_LABEL)
    set(A_LABEL unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  meshcast_warnings(${name})
  if(A_EXE)
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
    target_compile_definitions(${name} PRIVATE MESHCAST_EXE="$<TARGET_FILE:meshcast>")
    add_dependencies(${name} meshcast)
  endif()
  set(env "")
  if(MESHCAST_SANITIZE AND "meshcast_media" IN_LIST A_DEPS)
    # GStreamer tests: GLib deliberately drops its first quark block once GStreamer's plugins
    # outgrow it (tests/lsan.supp). Telling that apart needs full stacks (libglib has no
    # frame pointers), which costs speed, so only these tests pay for it.
    set(env ENVIRONMENT
        "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:fast_unwind_on_malloc=0")
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT} ${env}
                       DISCOVERY_TIMEOUT 60)
endfunction()

# meshcast_fuzzer(NAME SOURCES ... DEPS ... [DICT file])
# A libFuzzer target, next to its seeds in corpus/NAME/ and the inputs that once failed it in
# regressions/NAME/ (both beside the calling CMakeLists.txt; the seed corpus is required).
# With MESHCAST_FUZZ (clang) it is a libFuzzer binary; in a sanitizer build without it the same
# sources are linked with tests/fuzz/replay_main.cpp, so g++'s ASan+UBSan replays them too.
# Either way the CTest test fuzz_replay.NAME (label unit) runs every seed and regression once,
# and scripts/fuzz.sh finds the target in <build>/fuzz_targets.tsv.
function(meshcast_fuzzer name)
  cmake_parse_arguments(A "" "DICT" "SOURCES;DEPS" ${ARGN})
  if(NOT MESHCAST_FUZZ AND NOT (MESHCAST_SANITIZE AND MESHCAST_TESTS))
    return()
  endif()
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name})
  set(regressions ${CMAKE_CURRENT_SOURCE_DIR}/regressions/${name})
  # CONFIGURE_DEPENDS: a file added to either folder reconfigures the tree at the next build.
  file(GLOB seeds CONFIGURE_DEPENDS ${corpus}/*)
  file(GLOB crashes CONFIGURE_DEPENDS ${regressions}/*)
  if(NOT seeds)
    message(FATAL_ERROR "fuzz target ${name}: no seed inputs in ${corpus}")
  endif()
  add_executable(${name} ${A_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  meshcast_warnings(${name})
  if(MESHCAST_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    # Given files (not folders), libFuzzer runs each one once and exits.
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-artifacts)
    set(replay -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz-artifacts/${name}-)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
    set(replay)
  endif()
  if(NOT TARGET fuzzers)
    add_custom_target(fuzzers)
  endif()
  add_dependencies(fuzzers ${name})
  add_test(NAME fuzz_replay.${name} COMMAND ${name} ${replay} ${seeds} ${crashes})
  set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS unit TIMEOUT 300)
  set(dict "-")
  if(A_DICT)
    set(dict ${CMAKE_CURRENT_SOURCE_DIR}/${A_DICT})
  endif()
  set_property(GLOBAL APPEND PROPERTY MESHCAST_FUZZ_TARGETS
               "${name}\t$<TARGET_FILE:${name}>\t${corpus}\t${regressions}\t${dict}\n")
endfunction()

# Writes <build>/fuzz_targets.tsv: name, binary, corpus, regressions, dictionary ("-": none).
function(meshcast_fuzz_manifest)
  get_property(lines GLOBAL PROPERTY MESHCAST_FUZZ_TARGETS)
  if(lines)
    list(JOIN lines "" content)
    file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/fuzz_targets.tsv CONTENT "${content}")
  endif()
endfunction()
