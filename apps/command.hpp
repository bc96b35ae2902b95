// Subcommand registry: each apps/cmd_*.cpp registers itself, so adding a
// command never touches a shared file.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "apps/exit_code.hpp"  // commands return these

namespace meshcast::app {

using CommandFn = std::function<int(int argc, char** argv)>;  // argv[0] = subcommand name

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

std::vector<Command>& command_registry();

struct RegisterCommand {
  RegisterCommand(std::string name, std::string summary, CommandFn fn) {
    command_registry().push_back({std::move(name), std::move(summary), std::move(fn)});
  }
};

}  // namespace meshcast::app
