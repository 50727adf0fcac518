#!/bin/sh
# Length framing (SPEC §2): its pid, the text message "ok", then a frame with the unknown
# opcode 07; keeps stdout open so only the bad frame can end the session.
pid=$$
printf '\001\000\000\000'
printf "\\$(printf '%03o' ${#pid})"
printf '%s' "$pid"
printf '\001\000\000\000\002ok'
printf '\007\000\000\000\001x'
exec sleep 30
