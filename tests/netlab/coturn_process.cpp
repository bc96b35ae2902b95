#include "tests/netlab/coturn_process.hpp"

#include <fstream>
#include <sstream>
#include <thread>

namespace meshcast::netlab {

Expected<void, std::string> CoturnProcess::start(const Spawn& spawn) {
  const auto key = dir_ / "turn.key", cert = dir_ / "turn.crt";
  // A throwaway self-signed certificate for the TLS listener, naming its address (clients
  // trust it with --turn-ca cert_file()).
  std::string out;
  int rc = testing::run_command(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-days", "2", "-subj", "/CN=turn.meshcast.lab", "-addext",
       "subjectAltName=IP:" + o_.listen_ip + ",DNS:turn.meshcast.lab", "-keyout", key.string(),
       "-out", cert.string()},
      dir_ / "openssl", &out, {}, 20000);
  if (rc != 0) return unexpected("openssl req failed: " + testing::read_text(dir_ / "openssl.err"));
  config_ = dir_ / "turnserver.conf";
  std::ofstream c(config_);
  c << "# Generated for one lab run.\n"
    << "listening-ip=" << o_.listen_ip << "\n"
    << "relay-ip=" << o_.listen_ip << "\n"
    << "listening-port=" << o_.port << "\n"
    << "tls-listening-port=" << o_.tls_port << "\n"
    << "min-port=49152\nmax-port=49999\n"
    << "fingerprint\nlt-cred-mech\n"
    << (o_.auth_secret.empty() ? "user=" + o_.user + ":" + o_.password
                               : "use-auth-secret\nstatic-auth-secret=" + o_.auth_secret)
    << "\n"
    << "realm=" << o_.realm << "\n"
    << "cert=" << cert.string() << "\npkey=" << key.string() << "\n"
    << "no-multicast-peers\n"
    << "no-cli\n"
    << "userdb=" << (dir_ / "turndb").string() << "\n"
    << "pidfile=" << (dir_ / "turnserver.pid").string() << "\n"
    << "log-file=" << (dir_ / "turnserver.log").string() << "\n"
    << "simple-log\nverbose\n";
  if (o_.deny_private_peers)
    // Peers' private host candidates are unreachable from the relay. Without this coturn
    // tries to send to them, and when that fails at once (no route) it tears down the whole
    // allocation; libnice then sees its CreatePermission refused, never re-allocates and
    // ICE fails. Denied peers get a clean 403 for that permission only.
    c << "denied-peer-ip=10.0.0.0-10.255.255.255\n"
      << "denied-peer-ip=172.16.0.0-172.31.255.255\n"
      << "denied-peer-ip=192.168.0.0-192.168.255.255\n";
  c.close();
  if (!spawn(proc_, {"turnserver", "-c", config_.string(), "--no-stdout-log"}))
    return unexpected("cannot start turnserver");
  // Listening once its UDP, TCP and TLS sockets exist in the namespace (bounded: 10 s).
  const std::string port = ":" + std::to_string(o_.port), tls = ":" + std::to_string(o_.tls_port);
  for (int i = 0; i < 200; ++i) {
    if (!proc_.running()) return unexpected("turnserver exited: " + log() + proc_.err());
    std::string ss;
    testing::run_command({"ip", "netns", "exec", ns_, "ss", "-Hltun"}, dir_ / "ss", &ss, {}, 5000);
    auto has = [&](const std::string& proto, const std::string& p) {
      std::istringstream in(ss);
      for (std::string line; std::getline(in, line);)
        if (line.rfind(proto, 0) == 0 && line.find(o_.listen_ip + p + " ") != std::string::npos)
          return true;
      return false;
    };
    if (has("udp", port) && has("tcp", port) && has("tcp", tls)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return unexpected("turnserver did not open its listeners within 10 s: " + log());
}

std::string CoturnProcess::log() const {
  // simple-log writes exactly the configured file name.
  return testing::read_text(dir_ / "turnserver.log");
}

}  // namespace meshcast::netlab
