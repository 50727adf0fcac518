"""Socket activation as systemd does it (sd_listen_fds(3)), for the tests of SPEC §15: opens a
listening socket (tcp: 127.0.0.1 on a free port; unix: at PATH), prints its port or path, puts it
at fd 3, sets LISTEN_PID to its own pid (which exec keeps), LISTEN_FDS=1 and LISTEN_FDNAMES, and
execs wsbridge with the rest of the arguments.

usage: activate.py tcp|unix PATH-OR-- WSBRIDGE [ARGS...]
"""
import os
import socket
import sys

kind, where, binary, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if kind == "tcp":
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    said = str(listener.getsockname()[1])
else:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(where)
    said = where
listener.listen(64)
if listener.fileno() != 3:
    os.dup2(listener.fileno(), 3)
os.set_inheritable(3, True)
print(said, flush=True)
# ACTIVATE_LISTEN_FDS replaces the count, for the tests of malformed values.
environment = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS=os.environ.get("ACTIVATE_LISTEN_FDS", "1"),
                   LISTEN_FDNAMES="web")
environment.pop("ACTIVATE_LISTEN_FDS", None)
os.execve(binary, [binary] + args, environment)
