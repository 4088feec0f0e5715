// Subcommand registry of the moevk executable: each cli/cmd_<name>.cpp registers itself with
// MOEVK_COMMAND(name, summary, function); main() dispatches on argv[1].
#pragma once

#include <string>
#include <vector>

namespace moevk::cli {

// args excludes the program and subcommand names. Returns the process exit code.
using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;
  CommandFn fn;
};

std::vector<Command>& commands();

struct Registrar {
  Registrar(const char* name, const char* summary, CommandFn fn) {
    commands().push_back({name, summary, fn});
  }
};

}  // namespace moevk::cli

#define MOEVK_COMMAND(name, summary, fn) \
  static ::moevk::cli::Registrar moevk_command_registrar_##fn(name, summary, fn)
