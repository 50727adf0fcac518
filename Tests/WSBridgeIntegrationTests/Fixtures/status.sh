#!/bin/sh
# Prints its pid, then ends as asked: "exit N" or "signal SIG" (kill -SIG $$).
echo $$
case "$1" in
    exit) exit "$2" ;;
    signal) kill -"$2" $$ ;;
esac
# Not reached when the signal ends the shell; a distinct status makes a failure obvious.
exit 99
