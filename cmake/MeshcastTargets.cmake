# Warnings for our own code only (dependencies come in as SYSTEM includes via imported targets).
function(meshcast_warnings target)
  # -Wno-restrict: GCC 12 false positive in std::string (GCC bug 105329).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-restrict)
endfunction()

# meshcast_library(NAME SOURCES ... DEPS ...)
function(meshcast_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  meshcast_warnings(${name})
endfunction()

# meshcast_test(NAME SOURCES ... DEPS ... LABEL unit|integration [TIMEOUT s])
# One GoogleTest binary, its cases registered with CTest.
function(meshcast_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT A_LABEL)
    set(A_LABEL unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  meshcast_warnings(${name})
  gtest_discover_tests(${name} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
                       DISCOVERY_TIMEOUT 60)
endfunction()

# meshcast_fuzzer(NAME SOURCES ... DEPS ...): libFuzzer target, only with clang.
function(meshcast_fuzzer name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT MESHCAST_FUZZ)
    return()
  endif()
  add_executable(${name} ${A_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE ${A_DEPS})
endfunction()
