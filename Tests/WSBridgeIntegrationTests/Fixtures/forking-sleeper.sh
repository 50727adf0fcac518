#!/bin/sh
# Prints its pid, ignores stdin, and keeps a background grandchild. A non-interactive shell
# starts background jobs with SIGINT ignored, so only SIGTERM or SIGKILL to the group ends it.
echo $$
sleep 30 &
sleep 30
wait
