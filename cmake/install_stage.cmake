# CTest fixture `install_stage`: a fresh `cmake --install` of the build tree into STAGE.
#   cmake -DBINARY_DIR=<build> -DSTAGE=<dir> [-DCONFIG=<cfg>] -P install_stage.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var IN ITEMS BINARY_DIR STAGE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_stage.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${STAGE}")
set(args --install "${BINARY_DIR}" --prefix "${STAGE}")
if(CONFIG)
  list(APPEND args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" ${args} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
message(STATUS "installed into ${STAGE}")
