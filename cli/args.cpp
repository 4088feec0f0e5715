#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "loader/error.h"
#include "runtime/sched/size.h"

namespace moevk::cli {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {} '{}'", what, path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Args& Args::option(std::vector<std::string> names, bool takes_value) {
  opts_.push_back({std::move(names), takes_value});
  return *this;
}

const Args::Opt* Args::find(const std::string& name) const {
  for (const Opt& o : opts_)
    for (const std::string& n : o.names)
      if (n == name) return &o;
  return nullptr;
}

Args& Args::positionals() {
  positionals_ = true;
  return *this;
}

void Args::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const Opt* o = find(args[i]);
    if (!o && positionals_ && !args[i].starts_with("-")) {
      positional_.push_back(args[i]);
      continue;
    }
    if (!o) fail("unknown option '{}' (see --help)", args[i]);
    ++counts_[o->names[0]];
    if (!o->takes_value) {
      values_[o->names[0]].assign(1, '1');
      continue;
    }
    if (i + 1 >= args.size()) fail("option {} needs a value", args[i]);
    values_[o->names[0]] = args[++i];
  }
}

bool Args::parse(const std::vector<std::string>& args, const char* command, const char* usage) {
  try {
    parse(args);
  } catch (const Error& e) {
    std::fprintf(stderr, "moevk %s: %s\n\n%s", command, e.what(), usage);
    return false;
  }
  return true;
}

size_t Args::count(const std::string& name) const {
  const Opt* o = find(name);
  MOEVK_ASSERT(o, "undeclared option " + name);
  auto it = counts_.find(o->names[0]);
  return it == counts_.end() ? 0 : it->second;
}

bool Args::has(const std::string& name) const {
  const Opt* o = find(name);
  return o && values_.count(o->names[0]);
}

std::optional<std::string> Args::get(const std::string& name) const {
  const Opt* o = find(name);
  MOEVK_ASSERT(o, "undeclared option " + name);
  auto it = values_.find(o->names[0]);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v) fail("option {} is required (see --help)", name);
  return *v;
}

int64_t Args::get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
  auto v = get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    fail("option {}: '{}' is not an integer", name, *v);
  if (n < lo || n > hi) fail("option {}: {} is out of range [{}, {}]", name, n, lo, hi);
  return n;
}

double Args::get_float(const std::string& name, double def) const {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x)) fail("option {}: '{}' is not a number", name, *v);
  return x;
}

uint64_t Args::get_size(const std::string& name, uint64_t def) const {
  auto v = get(name);
  if (!v) return def;
  try {
    return sched::parse_size(*v);
  } catch (const Error& e) {
    fail("option {}: {}", name, e.what());
  }
}

}  // namespace moevk::cli
