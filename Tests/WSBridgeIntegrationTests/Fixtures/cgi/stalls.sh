#!/bin/sh
# A whole head and the start of a body (its pid), then silence past the deadline.
printf 'Content-Type: text/plain\n\n%s\n' $$
exec sleep 30
