#!/bin/sh
# For the event-stream tests (SPEC §12): prints its pid and what it knows of its transport, then
# behaves as the URL path asks (PATH_INFO):
#   /cr      a line with a CR inside and one ending in CRLF, then echoes stdin
#   /exit3   echoes one line as "got LINE", then exits 3
#   /flood   prints numbered 64-byte lines as fast as it can
#   /deaf    never reads stdin, sleeps
#   /tick    prints "tick 1" to "tick 5", one every 200 ms, then echoes stdin
#   anything else: echoes stdin
echo $$
echo "transport=$WEBSOCKET_TRANSPORT last=$HTTP_LAST_EVENT_ID"
case "$PATH_INFO" in
/cr) printf 'a\rb\r\nc\n'; exec cat ;;
/exit3) read -r line; echo "got $line"; exit 3 ;;
/flood) exec awk 'BEGIN { for (i = 0; ; i++) printf "%063d\n", i }' ;;
/deaf) exec sleep 300 ;;
/tick) for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.2; done; exec cat ;;
*) exec cat ;;
esac
