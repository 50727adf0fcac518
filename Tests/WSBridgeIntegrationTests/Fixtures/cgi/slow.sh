#!/bin/sh
# Prints its pid in a CGI body, then never finishes: the client will go away.
printf 'Content-Type: text/plain\r\n\r\n'
echo $$
exec sleep 300
