#!/bin/sh
# Says which server runs it (its first argument) and whom it serves, then echoes stdin to stdout.
echo "$1 $REMOTE_ADDR"
exec cat
