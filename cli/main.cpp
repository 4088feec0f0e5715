// moevk: run Mixture-of-Experts GGUF models on any Vulkan GPU.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"

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
}

}  // namespace moevk::cli

int main(int argc, char** argv) {
  using namespace moevk::cli;
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const Command& c : commands()) {
    if (name != c.name) continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
      return c.fn(args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "moevk %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "moevk: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return 2;
}
