#!/bin/sh
# Prints its pid, then echoes stdin to stdout as cat does, keeping a copy of everything it read in
# $WSBRIDGE_TEST_DIR/$REMOTE_PORT.in, so a test can check what reached stdin after its client left.
echo $$ > "$WSBRIDGE_TEST_DIR/$REMOTE_PORT.pid"
echo $$
exec tee "$WSBRIDGE_TEST_DIR/$REMOTE_PORT.in"
