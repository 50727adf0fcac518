#!/bin/sh
# Answers at once and closes stdout, then floods stderr until the ladder's SIGKILL: every line
# wakes its CGI request after the client has gone (a closed socket must not be read again).
trap '' INT TERM
printf 'Content-Type: text/plain\n\ndone\n'
exec >&-
exec yes tick >&2
