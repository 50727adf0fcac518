#!/bin/sh
# Says which server runs it (its first argument), then echoes stdin to stdout.
echo "$1"
exec cat
