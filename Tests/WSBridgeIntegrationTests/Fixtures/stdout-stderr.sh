#!/bin/sh
# Prints its pid, two lines on stdout and two on stderr (one with a quote and a backslash, which
# JSON must escape), then exits 3.
echo $$
echo "out one"
echo "err one" >&2
echo "out two"
echo 'err "two" \ end' >&2
exit 3
