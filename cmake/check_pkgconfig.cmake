# CTest test `pkgconfig`: compile and run tests/consumer/main.c with the flags of the installed
# (staged) coredll.pc.
#   cmake -DPKG_CONFIG=<pkg-config> -DCC=<c compiler> -DSTAGE=<install prefix> -DLIBDIR=<lib dir
#         relative to STAGE> -DSOURCE=<main.c> -DWORK_DIR=<dir> -DVERSION=<x.y.z>
#         -DLIBS_PRIVATE=<expected Libs.private> -P check_pkgconfig.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var IN ITEMS PKG_CONFIG CC STAGE LIBDIR SOURCE WORK_DIR VERSION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_pkgconfig.cmake: -D${var}=... is required")
  endif()
endforeach()

set(pcdir "${STAGE}/${LIBDIR}/pkgconfig")
if(NOT EXISTS "${pcdir}/coredll.pc")
  message(FATAL_ERROR "${pcdir}/coredll.pc is missing")
endif()
# Only the staged file, with its prefix taken from where it lies (it was configured for the
# real install prefix).
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
set(ENV{PKG_CONFIG_LIBDIR} "${pcdir}")

function(pkg_config out)
  execute_process(COMMAND "${PKG_CONFIG}" --define-prefix ${ARGN} coredll
    OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} coredll failed: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

pkg_config(modversion --modversion)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion coredll: '${modversion}', expected '${VERSION}'")
endif()
pkg_config(cflags --cflags)
pkg_config(libs --libs)
pkg_config(static_libs --static --libs)
message(STATUS "pkg-config coredll ${modversion}: cflags '${cflags}', libs '${libs}', "
  "static libs '${static_libs}'")
if(DEFINED LIBS_PRIVATE AND NOT LIBS_PRIVATE STREQUAL "")
  string(FIND "${static_libs}" "${LIBS_PRIVATE}" at)
  if(at LESS 0)
    message(FATAL_ERROR "pkg-config --static --libs lacks '${LIBS_PRIVATE}'")
  endif()
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
separate_arguments(cflags UNIX_COMMAND "${cflags}")
separate_arguments(libs UNIX_COMMAND "${libs}")
execute_process(
  COMMAND "${CC}" -std=gnu11 -Wall -Wextra -Werror ${cflags} "${SOURCE}"
    -o "${WORK_DIR}/consumer_pc" ${libs} "-Wl,-rpath,${STAGE}/${LIBDIR}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling ${SOURCE} with pkg-config's flags failed")
endif()
execute_process(COMMAND "${WORK_DIR}/consumer_pc" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer_pc failed (${rc})")
endif()
