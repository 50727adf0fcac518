#!/bin/sh
# Prints its pid, then $1 (default 5000) bytes without a newline, then keeps stdout open.
echo $$
head -c "${1:-5000}" /dev/zero | tr '\000' 'a'
exec sleep 30
