#!/bin/sh
# Not a CGI answer, and endless: nothing of it may follow the 502 (issue 9 finding 2).
exec yes
