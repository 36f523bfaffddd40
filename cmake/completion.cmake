# completion.cmake - writes dhtreg's bash completion from the built program: `dhtreg completion bash` (cmake -P)
#
# -DEXEC=the built dhtreg -DOUT=the completion file
# The script is written from the CLI's own tables of commands and options,
# so what it completes is what that dhtreg accepts.
cmake_policy(VERSION 3.16)
foreach(v EXEC OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "completion.cmake: -D${v}= is missing")
  endif()
endforeach()
execute_process(COMMAND ${EXEC} completion bash OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
file(SIZE ${OUT}.tmp size)
if(NOT rc EQUAL 0 OR size EQUAL 0)
  message(FATAL_ERROR "completion.cmake: '${EXEC} completion bash' failed (${rc})")
endif()
file(RENAME ${OUT}.tmp ${OUT})
