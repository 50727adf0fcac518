#!/bin/sh
# Serves --dir and --cgidir alike: prints its pid, then its whole environment, one NAME=value a line
# (a CGI response head first for a plain request). `env` prints the environment as it is, so a
# value holding a line break shows as an extra line.
[ -z "$HTTP_UPGRADE" ] && printf 'Content-Type: text/plain\n\n'
echo $$
exec /usr/bin/env
