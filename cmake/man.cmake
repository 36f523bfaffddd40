# man.cmake - writes one man page with help2man from a built program's --help and --version (cmake -P)
#
# -DHELP2MAN=path -DEXEC=the built program -DWRAPPER=cmake/help2man-exec.sh
# -DINCLUDE=dist/man/NAME.h2m -DSECTION=1|8 -DOUT=the page -DWORK=a scratch dir
#
# The program's usage text is the one source of its options: help2man
# formats them, and an @DHTREG_FLAG_ENV@ in the include becomes one
# ENVIRONMENT entry per option of the usage (DHTREG_ and the option's name in
# capitals, '-' as '_'; --data-dir is DHTREG_HOME, --rpc-socket
# DHTREG_SOCKET), but for those the include describes itself; an
# @DHTREG_EXIT_STATUS@ becomes the usage's "Exit status:" paragraph.
cmake_policy(VERSION 3.16)
foreach(v HELP2MAN EXEC WRAPPER INCLUDE SECTION OUT WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "man.cmake: -D${v}= is missing")
  endif()
endforeach()

execute_process(COMMAND ${EXEC} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(FATAL_ERROR "man.cmake: '${EXEC} --help' failed (${rc})")
endif()
file(READ ${INCLUDE} include)

set(env "")
string(REGEX MATCHALL "\n  --[a-z0-9-]+[^\n]*" lines "${help}")
foreach(line ${lines})
  if(NOT line MATCHES "^\n  --([a-z0-9-]+)( ([A-Z][A-Z0-9:_.]*))?")
    continue()
  endif()
  set(flag ${CMAKE_MATCH_1})
  set(arg "${CMAKE_MATCH_3}")
  if(flag STREQUAL "help" OR flag STREQUAL "version")
    continue()
  endif()
  if(flag STREQUAL "data-dir")
    set(var DHTREG_HOME)
  elseif(flag STREQUAL "rpc-socket")
    set(var DHTREG_SOCKET)
  else()
    string(TOUPPER "DHTREG_${flag}" var)
    string(REPLACE "-" "_" var ${var})
  endif()
  string(FIND "${include}" ".TP\n\\fB${var}\\fR=" described)
  if(NOT described EQUAL -1)
    continue()
  endif()
  if(arg STREQUAL "")
    set(value "1")
  else()
    set(value "\\fI${arg}\\fR")
  endif()
  string(REPLACE "-" "\\-" rflag ${flag})
  string(APPEND env ".TP\n\\fB${var}\\fR=${value}\nas \\fB\\-\\-${rflag}\\fR\n")
endforeach()
string(REGEX REPLACE "\n$" "" env "${env}")
string(REPLACE "@DHTREG_FLAG_ENV@" "${env}" include "${include}")

# An "Exit status:" paragraph of the usage ("  N  meaning" lines) becomes
# the page's EXIT STATUS, where the include says @DHTREG_EXIT_STATUS@
# (help2man-exec.sh keeps it out of the DESCRIPTION).
set(exits "")
if(help MATCHES "\nExit status:\n(( +[0-9]+ +[^\n]*\n?)+)")
  string(REGEX MATCHALL " +[0-9]+ +[^\n]*" lines "${CMAKE_MATCH_1}")
  foreach(line ${lines})
    string(REGEX MATCH "^ +([0-9]+) +(.*)$" unused "${line}")
    string(REPLACE "-" "\\-" text "${CMAKE_MATCH_2}")
    string(APPEND exits ".TP\n.B ${CMAKE_MATCH_1}\n${text}\n")
  endforeach()
  string(REGEX REPLACE "\n$" "" exits "${exits}")
endif()
string(REPLACE "@DHTREG_EXIT_STATUS@" "${exits}" include "${include}")

get_filename_component(name ${INCLUDE} NAME)
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/${name} "${include}")

set(ENV{DHTREG_MAN_EXEC} ${EXEC})
execute_process(
  COMMAND ${HELP2MAN} --no-info --section=${SECTION} --include=${WORK}/${name}
          --output=${OUT}.tmp ${WRAPPER}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man.cmake: help2man failed for ${EXEC} (${rc})")
endif()
file(RENAME ${OUT}.tmp ${OUT})
