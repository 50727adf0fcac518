#!/bin/sh
echo "Content-Type: text/plain"
echo "X-Script: yes"
echo
echo "method=$REQUEST_METHOD path=$PATH_INFO query=$QUERY_STRING len=$CONTENT_LENGTH"
cat
