#!/bin/sh
# Prints its pid, then the CGI path variables --dir set for it.
echo $$
echo "SCRIPT_NAME=$SCRIPT_NAME"
echo "PATH_INFO=$PATH_INFO"
echo "QUERY_STRING=$QUERY_STRING"
