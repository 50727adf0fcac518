#!/bin/sh
# Prints its pid, then a CRLF line and an LF line: SPEC §2 strips one trailing \n or \r\n.
echo $$
printf 'a\r\nb\n'
