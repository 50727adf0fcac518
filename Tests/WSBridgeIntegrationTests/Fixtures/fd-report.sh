#!/bin/sh
# Prints what systemd's variables say in the child (nothing, SPEC §15) and every open fd of this
# shell with what it points to, one line.
echo "listen=[${LISTEN_PID-}${LISTEN_FDS-}${LISTEN_FDNAMES-}] fds=$(for f in /proc/$$/fd/*; do printf '%s>%s ' "${f##*/}" "$(readlink "$f")"; done)"
