#!/bin/sh
# Prints its pid, then behaves as the URL path asks (PATH_INFO, SPEC §4), so one server can run
# every kind of session the lifecycle tests mix:
#   /cat                 echo stdin to stdout
#   /exit                exit 0 at once
#   /stderr              write one line with spaces and quotes on stderr, then echo stdin
#   /ignore              ignore SIGINT and SIGTERM, read stdin to its end, then sleep: only
#                        SIGKILL ends it (ignored signals stay ignored across exec)
#   /closed-stdout       close stdout, then sleep: only the ladder ends it
#   /ignore-stdin        never read stdin, sleep until signalled (SIGINT ends it)
#   /grandchild/inherit/(stay|exit)   start `sleep 300 &` holding stdout, print its pid, then
#   /grandchild/devnull/(stay|exit)   echo stdin (stay) or exit 0 at once; devnull: the
#                        grandchild's stdout goes to /dev/null instead
#   /sleep               ignore stdin and sleep (no signal ignored)
#   /fork                start `sleep 1000 &` (SIGINT ignored, as for every background job of
#                        a non-interactive shell), print its pid, then sleep ignoring stdin
echo $$
case "$PATH_INFO" in
/cat) exec cat ;;
/exit) exit 0 ;;
/stderr)
    echo 'a "quoted" warning' >&2
    exec cat ;;
/ignore)
    trap '' INT TERM
    while read -r line; do :; done
    exec sleep 300 ;;
/closed-stdout)
    exec >&-
    exec sleep 300 ;;
/sleep) exec sleep 1000 ;;
/fork)
    sleep 1000 &
    echo $!
    exec sleep 1000 ;;
/ignore-stdin) exec sleep 300 ;;
/grandchild/inherit/*) sleep 300 & ;;
/grandchild/devnull/*) sleep 300 >/dev/null 2>&1 & ;;
*)
    echo "lifecycle.sh: unknown mode $PATH_INFO" >&2
    exit 64 ;;
esac
echo $!
case "$PATH_INFO" in
*/exit) exit 0 ;;
*) exec cat ;;
esac
