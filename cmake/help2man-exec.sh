#!/bin/sh
# help2man-exec.sh - runs $DHTREG_MAN_EXEC for help2man, its "usage:" line spelt "Usage:", which help2man needs to write a SYNOPSIS
"$DHTREG_MAN_EXEC" "$@" 2>&1 | sed '1s/^usage:/Usage:/'
