#!/bin/sh
# Prints its pid, a line, then text with no newline before exiting 0.
echo $$
printf 'x\ny'
