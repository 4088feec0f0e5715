// A small option parser for the subcommands: declared options with typed values, clear errors for an
// unknown flag, a missing value or a value that does not parse.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moevk::cli {

class Args {
 public:
  // names: e.g. {"-m", "--model"}; takes_value false for switches.
  Args& option(std::vector<std::string> names, bool takes_value = true);
  // Parses; throws moevk::Error on an unknown option or a missing value.
  void parse(const std::vector<std::string>& args);

  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;
  std::string require(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;
  double get_float(const std::string& name, double def) const;
  uint64_t get_size(const std::string& name, uint64_t def) const;  // "6G", "512M", bytes

 private:
  struct Opt {
    std::vector<std::string> names;
    bool takes_value;
  };
  const Opt* find(const std::string& name) const;
  std::vector<Opt> opts_;
  std::map<std::string, std::string> values_;  // keyed by the option's first name
};

}  // namespace moevk::cli
