// Opening a file the user named for output (logits, routing traces) without losing data: never
// through a symbolic link, never onto a directory or the model being read, and a FIFO only when
// something reads it (no hang). Errors name the path, what it is for and the reason.
#pragma once

#include <cstdio>
#include <string>

namespace moevk {

// A regular file (created or truncated), a character device (/dev/null) or a FIFO with a reader,
// opened for writing. `what` names it in errors ("--out file"); `protect` (may be empty) is a file
// that must not be the output (the model). moevk::Error on refusal.
FILE* open_output_file(const std::string& path, const std::string& what, const std::string& protect = "");

}  // namespace moevk
