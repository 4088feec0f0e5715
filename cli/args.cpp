#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "loader/error.h"
#include "runtime/sched/size.h"

namespace moevk::cli {

const char* const kExitStatusHelp =
    "exit status: 0 success, 1 error, 2 usage error (unknown option, missing, malformed or out-of-range\n"
    "value, conflicting options)\n";

std::string read_file(const std::string& path, const char* what, size_t max_bytes) {
  // O_NONBLOCK so that a FIFO cannot block the open; only regular files are read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("cannot open {} '{}': {}", what, path, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) fail("cannot stat {} '{}': {}", what, path, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail("{} '{}' is not a regular file ({})", what, path,
         S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" : "not a plain file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    fail("{} '{}' is {} bytes, more than the limit of {} bytes", what, path, st.st_size, max_bytes);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read {} '{}': {}", what, path, std::strerror(errno));
    if (n == 0) break;
    if (out.size() + size_t(n) > max_bytes)  // the file grew while it was read
      fail("{} '{}' is more than the limit of {} bytes", what, path, max_bytes);
    out.append(buf, size_t(n));
  }
  return out;
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
    if (!o) usage_error("unknown option '{}'", args[i]);
    ++counts_[o->names[0]];
    if (!o->takes_value) {
      values_[o->names[0]].assign(1, '1');
      continue;
    }
    if (i + 1 >= args.size()) usage_error("option {} needs a value", args[i]);
    const auto [it, first] = values_.emplace(o->names[0], args[i + 1]);
    if (!first)
      usage_error("option {} given twice ('{}' and '{}'); it takes one value", o->names.back(), it->second,
                  args[i + 1]);
    ++i;
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
  if (!v) usage_error("option {} is required", name);
  return *v;
}

int64_t Args::get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
  auto v = get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    usage_error("option {}: '{}' is not an integer", name, *v);
  if (n < lo || n > hi) usage_error("option {}: {} is out of range [{}, {}]", name, n, lo, hi);
  return n;
}

double Args::get_float(const std::string& name, double def) const {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x)) usage_error("option {}: '{}' is not a number", name, *v);
  return x;
}

double Args::get_float(const std::string& name, double def, double lo, double hi) const {
  const double x = get_float(name, def);
  if (!(x >= lo && x <= hi)) usage_error("option {}: {} is out of range [{}, {}]", name, x, lo, hi);
  return x;
}

void Args::exclusive(std::initializer_list<const char*> names) const {
  std::vector<std::string> given;
  for (const char* n : names)
    if (count(n) > 0) given.push_back(n);
  if (given.size() > 1) usage_error("options {} cannot be used together", fmt::join(given, " and "));
}

uint64_t Args::get_size(const std::string& name, uint64_t def) const {
  auto v = get(name);
  if (!v) return def;
  try {
    return sched::parse_size(*v);
  } catch (const Error& e) {
    usage_error("option {}: {}", name, e.what());
  }
}

}  // namespace moevk::cli
