#!/bin/sh
# Prints its pid, then the subprotocol the server negotiated, then echoes.
echo $$
echo "protocol=$WEBSOCKET_PROTOCOL"
exec cat
