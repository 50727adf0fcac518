#!/bin/sh
# Half a CGI head, then silence past the deadline, then a flood that must never reach the client.
printf 'Content-Type: text/plain\n'
sleep 1
exec yes
