#!/bin/sh
echo not a cgi head
