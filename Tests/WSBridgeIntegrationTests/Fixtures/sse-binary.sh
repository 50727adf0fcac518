#!/bin/sh
# Length framing: one binary record (0, 1, 255), then echoes its records.
printf '\002\000\000\000\003\000\001\377'
exec cat
