// A small option parser for the subcommands: declared options with typed values, clear errors for an
// unknown flag, a missing value or a value that does not parse.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loader/error.h"

namespace moevk::cli {

// Exit status of every command: 0 success, 1 error, kExitUsage for a mistake in the command line.
inline constexpr int kExitUsage = 2;
extern const char* const kExitStatusHelp;  // the line --help prints about it

// A mistake in the command line (unknown option, missing, malformed or out-of-range value, options that
// conflict): main() prints it and exits with kExitUsage.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};
template <typename... A>
[[noreturn]] void usage_error(fmt::format_string<A...> f, A&&... args) {
  throw UsageError(fmt::format(f, std::forward<A>(args)...));
}

// Input files (prompts, messages, templates) are read whole up to this size.
inline constexpr size_t kMaxInputFileBytes = size_t{64} << 20;

// The whole file as bytes; moevk::Error naming <what>, the path and the reason when it cannot be read,
// is not a regular file (a FIFO, a directory, /dev/zero) or is larger than max_bytes.
std::string read_file(const std::string& path, const char* what, size_t max_bytes = kMaxInputFileBytes);

class Args {
 public:
  // names: e.g. {"-m", "--model"}; takes_value false for switches.
  Args& option(std::vector<std::string> names, bool takes_value = true);
  // Accepts arguments that do not start with '-' (and are not an option's value) as positional
  // arguments, in order, instead of refusing them as unknown options.
  Args& positionals();
  // Parses; throws UsageError on an unknown option, a missing value or an option with a value
  // given twice (-m A -m B); a repeated switch is allowed (count() tells how often it was given).
  // Errors of require/get_* are UsageErrors.
  void parse(const std::vector<std::string>& args);
  // Parses; on an unknown option or a missing value prints "moevk COMMAND: <message>", a blank line
  // and the usage text to stderr and returns false (the caller exits with status 2).
  bool parse(const std::vector<std::string>& args, const char* command, const char* usage);

  const std::vector<std::string>& positional() const { return positional_; }
  size_t count(const std::string& name) const;
  // UsageError when more than one of `names` was given ("-p and -f cannot be used together").
  void exclusive(std::initializer_list<const char*> names) const;

  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;
  std::string require(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;
  double get_float(const std::string& name, double def) const;
  // A number in [lo, hi]; UsageError naming the option and the range otherwise.
  double get_float(const std::string& name, double def, double lo, double hi) const;
  uint64_t get_size(const std::string& name, uint64_t def) const;  // "6G", "512M", bytes

 private:
  struct Opt {
    std::vector<std::string> names;
    bool takes_value;
  };
  const Opt* find(const std::string& name) const;
  std::vector<Opt> opts_;
  std::map<std::string, std::string> values_;  // keyed by the option's first name
  std::map<std::string, size_t> counts_;        // keyed by the option's first name
  bool positionals_ = false;
  std::vector<std::string> positional_;
};

}  // namespace moevk::cli
