#!/bin/sh
# help2man-exec.sh - runs $DHTREG_MAN_EXEC for help2man, its "usage:" line spelt "Usage:", which help2man needs to write a SYNOPSIS
# An "Exit status:" paragraph is left out: man.cmake makes it the page's EXIT STATUS.
"$DHTREG_MAN_EXEC" "$@" 2>&1 | sed -e '1s/^usage:/Usage:/' -e '/^Exit status:$/,/^$/d'
