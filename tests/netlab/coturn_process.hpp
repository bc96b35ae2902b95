// coturn (Debian's turnserver) for the lab: a generated configuration in the lab's
// directory, a self-signed certificate for its TLS port, run in the foreground inside the
// internet namespace and always stopped (destructor). Never the package's own service.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "mesh/base/expected.hpp"
#include "tests/integration/common/test_processes.hpp"

namespace meshcast::netlab {

class CoturnProcess {
 public:
  struct Options {
    std::string listen_ip;  // UDP and TCP on `port`, TLS on `tls_port`, relays on this IP
    int port = 3478;
    int tls_port = 5349;
    std::string user, password, realm = "meshcast.lab";
    bool deny_private_peers = true;  // off only to show what goes wrong without it
    // Non-empty: coturn's TURN REST scheme (use-auth-secret) with this shared secret instead
    // of the static user; only credentials derived from it (the tracker's) are accepted.
    std::string auth_secret;
  };
  // `spawn` starts the turnserver command line inside the right namespace.
  using Spawn = std::function<bool(testing::Process&, const std::vector<std::string>& args)>;

  // Runs in network namespace `ns`; files go to `dir`.
  CoturnProcess(std::string ns, std::filesystem::path dir, Options o)
      : ns_(std::move(ns)), dir_(std::move(dir)), o_(std::move(o)) {}
  ~CoturnProcess() { stop(); }

  // Writes cert + config, starts turnserver and waits (bounded) until it listens.
  Expected<void, std::string> start(const Spawn& spawn);
  void stop() { proc_.stop(); }
  bool running() { return proc_.running(); }
  std::string log() const;
  const std::filesystem::path& config_path() const { return config_; }
  // The TLS listener's certificate (self-signed, names listen_ip): the CA for --turn-ca.
  std::filesystem::path cert_file() const { return dir_ / "turn.crt"; }
  testing::Process& process() { return proc_; }

 private:
  std::string ns_;
  std::filesystem::path dir_, config_;
  Options o_;
  testing::Process proc_;
};

}  // namespace meshcast::netlab
