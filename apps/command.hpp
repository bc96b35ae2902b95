// Subcommand registry: each apps/cmd_*.cpp registers itself, so adding a
// command never touches a shared file.
#pragma once
#include <functional>
#include <string>
#include <vector>

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

// Exit codes shared by every subcommand (documented in docs/operations.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // runtime failure (link failed, tracker lost, ...)
  kExitUsage = 2,        // bad command line
  kExitRefused = 3,      // permission refused (private stream without key, call declined)
  kExitUnreachable = 4,  // peer/tracker offline or not found
  kExitTimeout = 5,      // no answer in time
  kExitNoDisplay = 6,    // a window was asked for (watch --out auto|display) and none can open
  kExitIdentity = 7,     // a peer's identity key differs from the pinned one, or is not proven
  kExitNoMedia = 8,      // ended without media: a watch that played nothing, a call never connected
  kExitInterrupted = 130,
};

}  // namespace meshcast::app
