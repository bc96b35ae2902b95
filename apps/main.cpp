#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "apps/command.hpp"

namespace meshcast::app {
std::vector<Command>& command_registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace meshcast::app

using namespace meshcast::app;

static void print_usage(FILE* out) {
  auto cmds = command_registry();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::fprintf(out,
               "meshcast - peer-to-peer calls and live broadcast\n\n"
               "Usage: meshcast <command> [options]   (meshcast <command> --help for details)\n\n"
               "Commands:\n");
  for (auto& c : cmds) std::fprintf(out, "  %-14s %s\n", c.name.c_str(), c.summary.c_str());
}

// Every peer link holds a UDP socket and every tracker client a TCP one: a swarm of a few
// hundred in-process viewers needs far more than the usual 1,024 descriptors.
static void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char** argv) {
  raise_fd_limit();
  if (argc < 2) {
    print_usage(stderr);
    return kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return kExitOk;
  }
  if (name == "--version") {
    std::printf("meshcast 0.1.0\n");
    return kExitOk;
  }
  for (auto& c : command_registry()) {
    if (c.name == name) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "meshcast: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return kExitUsage;
}
