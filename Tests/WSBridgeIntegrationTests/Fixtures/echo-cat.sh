#!/bin/sh
# Prints its pid, then echoes stdin to stdout.
echo $$
exec cat
