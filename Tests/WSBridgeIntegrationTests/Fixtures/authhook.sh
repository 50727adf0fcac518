#!/bin/sh
# The --authcmd hook of AuthHookTests: decides by the request's query string.
echo "hook saw $QUERY_STRING from $REMOTE_ADDR" >&2
case "$QUERY_STRING" in
  *as=ann*) printf 'REMOTE_USER=ann\nTEAM=blue\nlower=ignored\n2BAD=ignored\nHOOK_QUERY=%s\n' "$QUERY_STRING"; exit 0 ;;
  *as=background*) sleep 300 & echo "REMOTE_USER=bg"; exit 0 ;;
  *deny*) exit 1 ;;
  *stdin*) if read -r line; then exit 7; else echo "STDIN=closed"; exit 0; fi ;;
  *signal*) kill -9 $$ ;;
  *slow*) sleep 300 ;;
  *) exit 7 ;;
esac
