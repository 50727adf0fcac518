#!/bin/sh
# websocketd's classic example: count to ten, one message a second, then exit 0 (close 1000).
for count in 1 2 3 4 5 6 7 8 9 10; do
    echo "$count"
    sleep 1
done
