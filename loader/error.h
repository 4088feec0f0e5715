// moevk::Error: the one exception type for untrusted input and runtime failures.
// C++ code throws it; the C API and the CLI's main() convert it to an error code / message.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace moevk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws moevk::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// `s` made safe to print: control characters (newlines and tabs too, unless keep_newlines), C1
// controls and bytes that are not UTF-8 escaped (\n, \x1b), cut after about max_bytes with
// "... (N bytes in all)". For text from a file (a model's metadata, its chat template) in a message or
// on a terminal: it must not write escape sequences or megabytes there.
std::string printable(std::string_view s, size_t max_bytes = 1024, bool keep_newlines = false);

}  // namespace moevk

// Always-on invariant check (not for untrusted input: that gets moevk::fail with a named key/offset).
#define MOEVK_ASSERT(cond, msg)                                                              \
  do {                                                                                       \
    if (!(cond))                                                                             \
      throw ::moevk::Error(fmt::format("internal error: {} ({}) at {}:{}", msg, #cond, __FILE__, \
                                       __LINE__));                                           \
  } while (0)
