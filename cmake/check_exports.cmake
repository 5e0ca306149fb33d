# CTest test `exports_match_map`: the C API the crate exports is exactly the list in
# include/coredll.map, and the relinked libcoredll.so.0 exports exactly that list, each symbol
# as NAME@@COREDLL_1.0, with the SONAME libcoredll.so.0.
#   cmake -DNM=<nm> -DMAP=<coredll.map> -DCDYLIB=<cargo libcoredll.so> -DSHARED=<libcoredll.so.x>
#         -DSONAME=<expected soname> -P check_exports.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var IN ITEMS NM MAP CDYLIB SHARED SONAME)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_exports.cmake: -D${var}=... is required")
  endif()
endforeach()

# The names in the map's global: section.
file(READ "${MAP}" map)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" map "${map}")  # C comments
string(REGEX REPLACE "#[^\n]*" "" map "${map}")                      # # comments
if(NOT map MATCHES "global:(.*)local:")
  message(FATAL_ERROR "${MAP}: no global: ... local: section")
endif()
string(REPLACE ";" " " section "${CMAKE_MATCH_1}")
string(REGEX MATCHALL "[A-Za-z_][A-Za-z0-9_]*" expected "${section}")
list(SORT expected)
list(LENGTH expected n_expected)
set(failed FALSE)

# Defined dynamic symbols of a library, one list entry per `nm -D` line's name field.
function(dynamic_symbols lib out)
  execute_process(COMMAND "${NM}" -D --defined-only "${lib}"
    OUTPUT_VARIABLE text RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D ${lib} failed: ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${text}")
  set(names "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
      set(type "${CMAKE_MATCH_1}")
      set(name "${CMAKE_MATCH_2}")
      if(type STREQUAL "A" AND name MATCHES "^COREDLL_[0-9.]+$")
        continue()  # the version node itself
      endif()
      list(APPEND names "${name}")
    endif()
  endforeach()
  list(SORT names)
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

function(compare what actual)
  set(missing ${expected})
  set(extra ${actual})
  list(REMOVE_ITEM missing ${actual})
  list(REMOVE_ITEM extra ${expected})
  if(missing OR extra)
    string(REPLACE ";" " " missing "${missing}")
    string(REPLACE ";" " " extra "${extra}")
    message(SEND_ERROR "${what}:\n  in coredll.map but not exported: ${missing}\n"
      "  exported but not in coredll.map: ${extra}")
    set(failed TRUE PARENT_SCOPE)
  endif()
endfunction()

# 1. The crate (rustc exports every #[no_mangle] function from a cdylib).
dynamic_symbols("${CDYLIB}" crate)
compare("cargo cdylib ${CDYLIB}" "${crate}")

# 2. The relinked library: the same names, each the default version COREDLL_1.0.
dynamic_symbols("${SHARED}" shared)
set(unversioned "")
set(names "")
foreach(s IN LISTS shared)
  if(s MATCHES "^(.+)@@COREDLL_1\\.0$")
    list(APPEND names "${CMAKE_MATCH_1}")
  else()
    list(APPEND unversioned "${s}")
  endif()
endforeach()
if(unversioned)
  string(REPLACE ";" " " unversioned "${unversioned}")
  message(SEND_ERROR "${SHARED}: symbols without @@COREDLL_1.0: ${unversioned}")
  set(failed TRUE)
endif()
compare("relinked ${SHARED}" "${names}")

# 3. The SONAME.
get_filename_component(nm_dir "${NM}" DIRECTORY)
find_program(READELF NAMES readelf HINTS "${nm_dir}")
if(READELF)
  execute_process(COMMAND "${READELF}" -d "${SHARED}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT dyn MATCHES "\\(SONAME\\)[^\n]*\\[${SONAME}\\]")
    message(SEND_ERROR "${SHARED}: SONAME is not ${SONAME}")
    set(failed TRUE)
  endif()
endif()

if(failed)
  message(FATAL_ERROR "the exported symbols do not match include/coredll.map")
endif()
message(STATUS "${n_expected} functions in coredll.map, exported by the crate and as NAME@@COREDLL_1.0 "
  "by ${SONAME}")
