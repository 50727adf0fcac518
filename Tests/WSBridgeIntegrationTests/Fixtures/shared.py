#!/usr/bin/env python3
"""A child many clients share (SPEC §13); its argument says what it does:
  reply  answers each line "reply: LINE"; "pid" -> "pid N"; "env NAME" -> "env NAME=value" (or
         "env NAME unset"); "quit" -> exits 3
  count  prints 1, 2, 3, ... as fast as the pipe takes them
  tick   prints 1, 2, 3, ... every 2 ms
"""
import os
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "reply"
out = sys.stdout
if mode == "reply":
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "quit":
            sys.exit(3)
        elif line == "pid":
            out.write(f"pid {os.getpid()}\n")
        elif line.startswith("env "):
            name = line[4:]
            value = os.environ.get(name)
            out.write(f"env {name}={value}\n" if value is not None else f"env {name} unset\n")
        else:
            out.write(f"reply: {line}\n")
        out.flush()
elif mode == "count":
    number = 0
    while True:
        out.write("".join(f"{n}\n" for n in range(number + 1, number + 101)))
        number += 100
        out.flush()
elif mode == "tick":
    number = 0
    while True:
        number += 1
        out.write(f"{number}\n")
        out.flush()
        time.sleep(0.002)
