#!/bin/sh
# Length framing (SPEC §2): sends its pid as one text message (01, 32-bit length, payload),
# then echoes stdin, which is already framed the same way.
pid=$$
printf '\001\000\000\000'
printf "\\$(printf '%03o' ${#pid})"
printf '%s' "$pid"
exec cat
