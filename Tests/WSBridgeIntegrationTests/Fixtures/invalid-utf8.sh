#!/bin/sh
# Prints its pid, then the line FF C0 61 E2 82 (three maximal invalid subparts around "a").
echo $$
printf '\377\300a\342\202\n'
