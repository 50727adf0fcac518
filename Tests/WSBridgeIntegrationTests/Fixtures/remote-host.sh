#!/bin/sh
# Prints its pid, then the client's address and name as the CGI variables give them.
echo $$
echo "REMOTE_ADDR=$REMOTE_ADDR"
echo "REMOTE_HOST=$REMOTE_HOST"
