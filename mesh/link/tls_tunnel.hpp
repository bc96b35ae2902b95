// TURN over TLS for libnice. libnice 0.1.21 in RFC 5245 mode opens a TCP connection to a
// TURN_TLS server but speaks plain TURN on it (its TLS code serves only the Google/MSN
// modes). A TlsTunnel listens on 127.0.0.1; libnice reaches the server as TURN over TCP
// through it, and each accepted connection is carried over its own TLS connection to the
// server (GIO, with the system's or the given CAs; the certificate must name the server).
// A connection whose handshake fails is closed: libnice then gets no relay candidate from
// that server, and the reason is logged.
#pragma once
#include <glib.h>

#include <cstdint>
#include <memory>
#include <string>

#include "mesh/base/expected.hpp"

namespace meshcast::link {

struct TlsTunnelTarget {
  std::string host;  // numeric IP to connect to
  uint16_t port = 0;
  std::string name;     // what the certificate must name (SNI too); empty: host
  std::string ca_file;  // PEM CAs to trust; empty: the system's
  bool operator<(const TlsTunnelTarget& o) const;
};

class TlsTunnel {
 public:
  struct Counters {
    uint64_t accepted = 0;
    uint64_t handshakes = 0;  // completed
    uint64_t failures = 0;    // connect or handshake failed
  };

  ~TlsTunnel();
  TlsTunnel(const TlsTunnel&) = delete;
  TlsTunnel& operator=(const TlsTunnel&) = delete;

  // One tunnel per target and context, shared by every link that names it while one holds
  // it (links of one process share a listener).
  static Expected<std::shared_ptr<TlsTunnel>, std::string> shared(GMainContext* ctx,
                                                                  const TlsTunnelTarget& t);
  // Starts a tunnel of its own.
  static Expected<std::unique_ptr<TlsTunnel>, std::string> start(GMainContext* ctx,
                                                                 const TlsTunnelTarget& t);

  uint16_t local_port() const { return port_; }
  const TlsTunnelTarget& target() const { return target_; }
  Counters counters() const;
  // The last failure's reason (empty: none).
  std::string last_error() const;

  struct State;  // shared with connections in flight, which may outlive the tunnel

 private:
  TlsTunnel() = default;
  void* service_ = nullptr;  // GSocketService
  uint16_t port_ = 0;
  TlsTunnelTarget target_;
  std::shared_ptr<State> state_;
};

}  // namespace meshcast::link
