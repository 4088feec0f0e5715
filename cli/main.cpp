// moevk: run Mixture-of-Experts GGUF models on any Vulkan GPU.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/error.h"

namespace moevk::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

static void print_usage(FILE* out) {
  std::fprintf(out, "usage: moevk <command> [options]   (moevk <command> --help for its options)\n\n");
  std::vector<Command> sorted = commands();
  std::sort(sorted.begin(), sorted.end(),
            [](const Command& a, const Command& b) { return std::string_view(a.name) < b.name; });
  for (const Command& c : sorted) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out, "\n%s", kExitStatusHelp);
}

// Output the command wrote that did not reach stdout (a full disk, /dev/full, a closed pipe) is an
// error: status 1 with the reason, never a silent 0.
constexpr size_t kMaxMessageBytes = size_t{64} << 10;

static int check_stdout(const char* command, int status) {
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout);
  const int e = errno;
  if (!failed) return status;
  std::fprintf(stderr, "moevk %s: error: cannot write to standard output: %s\n", command,
               std::strerror(e != 0 ? e : EIO));
  return status != 0 ? status : 1;
}

}  // namespace moevk::cli

int main(int argc, char** argv) {
  using namespace moevk::cli;
  // A closed pipe (`moevk run ... | head -c1`) is a write error like a full disk: the write fails
  // with EPIPE and check_stdout() exits 1 naming standard output and the reason, instead of the
  // process ending silently by SIGPIPE (DECISIONS.md).
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return check_stdout("--help", 0);
  }
  for (const Command& c : commands()) {
    if (name != c.name) continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
      return check_stdout(c.name, c.fn(args));
    } catch (const UsageError& e) {
      std::fprintf(stderr, "moevk %s: error: %s (see moevk %s --help)\n", c.name,
                   moevk::printable(e.what(), kMaxMessageBytes, true).c_str(), c.name);
      return kExitUsage;
    } catch (const std::exception& e) {
      // Messages quote files (a model's keys and values): no escape sequences reach the terminal.
      std::fprintf(stderr, "moevk %s: error: %s\n", c.name,
                   moevk::printable(e.what(), kMaxMessageBytes, true).c_str());
      check_stdout(c.name, 1);
      return 1;
    }
  }
  std::fprintf(stderr, "moevk: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return 2;
}
