// The system's libcrypt (libxcrypt on Debian: bcrypt and SHA-crypt), for `--basicauth` only
// (WSPasswords).
#pragma once
#include <crypt.h>
