#!/bin/sh
# A first wsbridge backend: one line in, one line out, for as long as the browser stays.
# Try it:  wsbridge --port=8080 scripts/examples/greet.sh
echo "Hello! Send me your name."
while IFS= read -r name; do
    echo "Hello, $name! ($(date +%H:%M:%S))"
done
