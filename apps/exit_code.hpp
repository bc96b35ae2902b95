// Process exit codes of the meshcast binary, shared by the subcommands (apps/cmd_*.cpp)
// and the sessions (apps/session/) that decide them.
#pragma once

namespace meshcast::app {

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
