// Plain value types shared by the peer-link pieces (config, state, stats).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace meshcast::link {

// Offer/answer role. The offerer is ICE-controlling.
enum class Role { kOfferer, kAnswerer };

// kReconnecting: a connected link went silent (or ICE lost the pair) and heals with ICE
// restarts (LinkConfig::heal_window_ms > 0); DTLS and SRTP state stay. Not terminal.
enum class LinkState { kNew, kGathering, kConnecting, kConnected, kReconnecting, kFailed, kClosed };
const char* to_string(LinkState s);

// SDP-like DTLS setup attribute (RFC 4145 / 5763): active = DTLS client.
enum class DtlsSetup { kActpass, kActive, kPassive };
const char* to_string(DtlsSetup s);

// SRTP protection profile negotiated through the DTLS use_srtp extension.
enum class Cipher { kNone, kAeadAes128Gcm, kAes128CmSha1_80 };
const char* to_string(Cipher c);

// Which SRTP profiles this side offers. kAuto = GCM preferred, CM accepted.
enum class CipherPreference { kAuto, kGcmOnly, kCmOnly };

// How a TURN client reaches its server (RFC 7065 `transport=` / `turns:`). The relayed
// leg from the server to the peer is UDP in every case.
enum class RelayTransport { kUdp, kTcp, kTls };
const char* to_string(RelayTransport t);

// A TURN relay with long-term credentials.
struct TurnServer {
  std::string host;  // numeric IP address (names are resolved before, once)
  uint16_t port = 3478;
  std::string username;
  std::string password;
  RelayTransport transport = RelayTransport::kUdp;
  // kTls: the name the server's certificate must carry (the URI's host; empty: `host`).
  std::string tls_name;
};

// libnice allows at most this many TURN servers per component.
constexpr size_t kMaxTurnServers = 8;

// The candidate pair ICE selected, as libnice reports it.
struct LinkRoute {
  bool selected = false;  // false until a pair is selected
  // host | srflx | prflx | relay, for our side and the peer's.
  std::string local_type, remote_type;
  std::string local_address, remote_address;  // "IP:PORT" ("[IP]:PORT" for IPv6)
  std::string transport;                      // transport of the pair ("udp")
  // Our side is a relay candidate: how we reach that TURN server (what goes on the wire:
  // "udp", "tcp" or "tls"), its address, and the scheme it was configured with ("turn" /
  // "turns").
  std::string relay_transport, relay_server, relay_scheme;
  // Media goes through a TURN server (ours or the peer's).
  bool relayed() const { return local_type == "relay" || remote_type == "relay"; }
  const char* kind() const { return !selected ? "none" : relayed() ? "relayed" : "direct"; }
};

struct LinkConfig {
  // Local addresses libnice may gather host candidates on. Empty = every interface
  // (never used by tests: they pass {"127.0.0.1"}).
  std::vector<std::string> local_addresses{"127.0.0.1"};
  std::string stun_host;  // numeric IP; empty = no STUN (no public default, ever)
  uint16_t stun_port = 3478;
  // TURN servers, each gathered (at most kMaxTurnServers); empty = no TURN.
  std::vector<TurnServer> turn_servers;
  // CAs (PEM file) trusted for turns: servers; empty = the system's.
  std::string turn_ca_file;
  CipherPreference cipher = CipherPreference::kAuto;
  // Largest plain RTP/RTCP packet send_rtp/send_rtcp accept.
  size_t max_packet_size = 1400;
  // SO_RCVBUF / SO_SNDBUF for the selected socket (kernel caps at net.core.rmem_max).
  int socket_buffer_bytes = 4 * 1024 * 1024;
  // Create -> connected (ICE + DTLS) must finish within this, else failed.
  int connect_timeout_ms = 10000;
  // Keepalive: an SRTCP ping every interval; no valid packet for liveness_timeout -> failed.
  int keepalive_interval_ms = 500;
  int liveness_timeout_ms = 3000;
  // Healing. 0 (default): a silent link fails after liveness_timeout_ms (mesh links find
  // another partner). > 0: it enters kReconnecting instead; the offerer restarts ICE (fresh
  // agent, credentials and candidates, DTLS/SRTP kept) at once and again after
  // restart_interval_ms, growing x1.5 up to restart_interval_max_ms, at most max_ice_restarts
  // times; no authenticated packet within heal_window_ms of going silent -> kFailed.
  int heal_window_ms = 0;
  int restart_interval_ms = 4000;
  int restart_interval_max_ms = 10000;
  int max_ice_restarts = 6;
  // SRTP replay window (packets).
  unsigned long replay_window = 1024;
};

struct LinkStats {
  // Application packets (send_rtp/send_rtcp in, on_rtp/on_rtcp out); keepalives excluded.
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;  // plain bytes
  uint64_t packets_received = 0;
  uint64_t bytes_received = 0;  // plain bytes
  // Everything on the wire (DTLS, SRTP, SRTCP incl. keepalives), after protection.
  uint64_t wire_packets_sent = 0;
  uint64_t wire_bytes_sent = 0;
  uint64_t wire_packets_received = 0;
  uint64_t wire_bytes_received = 0;
  uint64_t send_errors = 0;         // socket refused the datagram (buffer full)
  uint64_t srtp_auth_failures = 0;  // tampered packets rejected
  uint64_t replays_rejected = 0;    // replayed / too-old packets rejected
  uint64_t unknown_packets = 0;     // first byte outside the RFC 7983 ranges
  uint64_t keepalives_sent = 0;
  uint64_t keepalives_received = 0;
  // Impairment hook counters.
  uint64_t impaired_dropped = 0;
  uint64_t impaired_corrupted = 0;
  uint64_t impaired_duplicated = 0;
  uint64_t impaired_overflow = 0;  // delay queue full
  int socket_rcvbuf_bytes = 0;     // SO_RCVBUF the kernel granted on the selected socket
  int socket_sndbuf_bytes = 0;
  double rtt_ms = -1;        // smoothed RTT from keepalive pings; -1 = unknown
  uint64_t rtt_samples = 0;  // pongs that measured an RTT
  double rtt_last_ms = -1;   // the latest ping's RTT (queues show here seconds before rtt_ms)
  // Healing: ICE generations started after the first (offerer: restarts made; answerer:
  // restart offers accepted), times the link went kReconnecting, times it came back, the
  // last kReconnecting -> kConnected duration (-1 = never healed), and DTLS handshakes
  // completed (stays 1: a restart keeps the DTLS session and SRTP keys).
  uint64_t ice_restarts = 0;
  uint64_t reconnects_started = 0;
  uint64_t heals = 0;
  double last_heal_ms = -1;
  uint64_t dtls_handshakes = 0;
  uint64_t stale_restart_messages = 0;  // restart/candidates of an old or unknown generation
  Cipher cipher = Cipher::kNone;
};

}  // namespace meshcast::link
