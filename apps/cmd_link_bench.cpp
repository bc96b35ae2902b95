// meshcast link-bench: setup latency of N loopback PeerLink pairs (ICE + DTLS-SRTP)
// and one-way SRTP throughput through one pair. Prints one JSON object.
#include <glib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "apps/cli/args.hpp"
#include "apps/command.hpp"
#include "media/common/glib_handle.hpp"
#include "mesh/base/time.hpp"
#include "mesh/link/loopback_pair.hpp"
#include "mesh/stats/stats.hpp"

using namespace meshcast::link;
using meshcast::app::Args;

namespace {

const char* kHelp =
    "Usage: meshcast link-bench [--links N] [--packets N] [--size BYTES] [--cipher gcm|cm]\n"
    "                           [--window N] [--max-seconds S]\n\n"
    "Sets up N PeerLink pairs over 127.0.0.1 one after another (ICE + DTLS 1.2 + SRTP),\n"
    "measuring create -> connected per pair, then pushes --packets RTP packets of --size\n"
    "bytes one way through the first pair as fast as flow control allows (at most --window\n"
    "packets in flight), and measures libsrtp protect/unprotect alone. Sender and receiver\n"
    "share this process's single thread. Prints one JSON object on stdout.\n\n"
    "Options:\n"
    "  --links N        link pairs to set up (default 20, 1..200)\n"
    "  --packets N      packets for the throughput run (default 100000)\n"
    "  --size BYTES     RTP packet size incl. 12-byte header (default 1200, 12..1400)\n"
    "  --cipher C       gcm (AEAD_AES_128_GCM, default) or cm (AES_CM_128_HMAC_SHA1_80)\n"
    "  --window N       max packets in flight (default 512)\n"
    "  --max-seconds S  stop the throughput run after S seconds (default 60)\n\n"
    "Examples:\n"
    "  meshcast link-bench\n"
    "  meshcast link-bench --links 5 --packets 20000 --cipher cm\n";

double now_s() { return meshcast::monotonic_us() / 1e6; }

using meshcast::stats::percentile;

void write_rtp(std::vector<uint8_t>& p, uint16_t seq, uint32_t ts) {
  p[0] = 0x80;
  p[1] = 96;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
  p[8] = 0xca;
  p[9] = 0xfe;
  p[10] = 0xba;
  p[11] = 0xbe;
}

// libsrtp alone, no sockets: where the time would go if the network cost nothing.
nlohmann::json srtp_only(Cipher cipher, size_t size, int packets) {
  std::vector<uint8_t> k1(30), k2(30);
  std::mt19937 rng(1);
  for (auto& b : k1) b = static_cast<uint8_t>(rng());
  for (auto& b : k2) b = static_cast<uint8_t>(rng());
  auto made_tx = SrtpSession::create(cipher, k1.data(), k2.data(), 1024);
  if (!made_tx) return {{"error", made_tx.error()}};
  auto made_rx = SrtpSession::create(cipher, k2.data(), k1.data(), 1024);
  if (!made_rx) return {{"error", made_rx.error()}};
  SrtpSession& tx = **made_tx;
  SrtpSession& rx = **made_rx;
  // Buffers are prepared before timing: only libsrtp is measured.
  std::vector<std::vector<uint8_t>> wire(static_cast<size_t>(packets),
                                         std::vector<uint8_t>(size + kSrtpMaxOverhead, 0x5a));
  std::vector<int> lens(static_cast<size_t>(packets), static_cast<int>(size));
  for (int i = 0; i < packets; ++i)
    write_rtp(wire[i], static_cast<uint16_t>(i), static_cast<uint32_t>(i));
  double t0 = now_s();
  for (int i = 0; i < packets; ++i) tx.protect_rtp(wire[i].data(), lens[i]);
  double t1 = now_s();
  double t2 = now_s();
  int ok = 0;
  for (int i = 0; i < packets; ++i)
    ok += rx.unprotect_rtp(wire[i].data(), lens[i]) == SrtpSession::Status::kOk;
  double t3 = now_s();
  auto rate = [&](double s) {
    return nlohmann::json{{"pps", std::lround(packets / s)},
                          {"mbps", std::lround(packets * size * 8.0 / s / 1e6)}};
  };
  return {{"protect", rate(t1 - t0)}, {"unprotect", rate(t3 - t2)}, {"unprotect_ok", ok}};
}

}  // namespace

static int run_link_bench(int argc, char** argv) {
  Args args(argc, argv, {}, {"links", "packets", "size", "cipher", "window", "max-seconds"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return meshcast::app::kExitOk;
  }
  long links = args.get_int("links", 20, 1, 200);
  long packets = args.get_int("packets", 100000, 1, 100000000);
  long size = args.get_int("size", 1200, 12, 1400);
  long window = args.get_int("window", 512, 1, 100000);
  long max_seconds = args.get_int("max-seconds", 60, 1, 3600);
  std::string cipher_name = args.get("cipher", "gcm");
  if (args.ok() && cipher_name != "gcm" && cipher_name != "cm")
    std::fprintf(stderr, "meshcast link-bench: --cipher must be gcm or cm\n");
  if (!args.ok() || (cipher_name != "gcm" && cipher_name != "cm")) {
    if (!args.ok()) std::fprintf(stderr, "meshcast link-bench: %s\n", args.error().c_str());
    std::fputs(kHelp, stderr);
    return meshcast::app::kExitUsage;
  }
  CipherPreference pref =
      cipher_name == "gcm" ? CipherPreference::kGcmOnly : CipherPreference::kCmOnly;

  if (!Certificate::process_default()) {
    std::fprintf(stderr, "meshcast link-bench: certificate generation failed\n");
    return meshcast::app::kExitFailure;
  }
  meshcast::media::GMainContextPtr own_ctx(g_main_context_new());  // outlives the pairs below
  GMainContext* ctx = own_ctx.get();
  std::vector<std::unique_ptr<LoopbackPair>> pairs;
  std::vector<double> setup_ms;
  int setup_failures = 0;
  std::string first_error;
  for (long i = 0; i < links; ++i) {
    LoopbackOptions o;
    o.offerer_config.cipher = pref;
    o.answerer_config.cipher = pref;
    std::string err;
    double t0 = now_s();
    std::unique_ptr<LoopbackPair> p;
    bool started = false;
    if (auto made = LoopbackPair::create(ctx, o)) {
      p = std::move(*made);
      auto connected = p->connect();
      started = connected.has_value();
      if (!started) err = connected.error();
    } else {
      err = made.error();
    }
    bool ok = started &&
              run_context_until(
                  ctx,
                  [&] {
                    return p->both(LinkState::kConnected) ||
                           p->offerer->state() == LinkState::kFailed ||
                           p->answerer->state() == LinkState::kFailed;
                  },
                  10000) &&
              p->both(LinkState::kConnected);
    if (!ok) {
      ++setup_failures;
      if (first_error.empty())
        first_error =
            p ? (err.empty() ? p->offerer->reason() + " / " + p->answerer->reason() : err) : err;
      continue;
    }
    setup_ms.push_back((now_s() - t0) * 1000);
    pairs.push_back(std::move(p));
  }
  if (pairs.empty()) {
    std::fprintf(stderr, "meshcast link-bench: no link connected: %s\n", first_error.c_str());
    return meshcast::app::kExitFailure;
  }

  // Throughput: offerer -> answerer of the first pair, window-based flow control.
  PeerLink& tx = *pairs[0]->offerer;
  PeerLink& rx = *pairs[0]->answerer;
  uint64_t received = 0, bad = 0, sent = 0, send_refused = 0, written_off = 0;
  rx.set_on_rtp([&](const uint8_t* d, size_t n) {
    ++received;
    if (n != static_cast<size_t>(size) || d[8] != 0xca) ++bad;
  });
  std::vector<uint8_t> pkt(static_cast<size_t>(size), 0x5a);
  double start = now_s(), last_progress = start, deadline = start + max_seconds;
  uint64_t last_received = 0;
  while (received + written_off < static_cast<uint64_t>(packets) && now_s() < deadline) {
    // Fill the window.
    while (sent < static_cast<uint64_t>(packets) &&
           sent - received - written_off < static_cast<uint64_t>(window)) {
      write_rtp(pkt, static_cast<uint16_t>(sent), static_cast<uint32_t>(sent * 90));
      if (!tx.send_rtp(pkt.data(), pkt.size())) {
        ++send_refused;  // socket buffer full: let the receiver drain first
        break;
      }
      ++sent;
    }
    // Drain: dispatch everything ready without blocking.
    for (int i = 0; i < 4 && g_main_context_iteration(ctx, FALSE); ++i) {
    }
    double t = now_s();
    if (received != last_received) {
      last_received = received;
      last_progress = t;
    } else if (t - last_progress > 0.05) {
      // Nothing arrived for 50 ms: whatever is in flight is lost.
      written_off = sent - received;
      last_progress = t;
      if (sent >= static_cast<uint64_t>(packets)) break;
    }
  }
  double elapsed = now_s() - start;
  LinkStats rs = rx.stats();
  LinkStats ts = tx.stats();

  nlohmann::json out;
  out["links"] = links;
  out["setup_failures"] = setup_failures;
  out["setup_ms"] = {{"p50", std::round(percentile(setup_ms, 0.5) * 10) / 10},
                     {"p95", std::round(percentile(setup_ms, 0.95) * 10) / 10},
                     {"max", std::round(percentile(setup_ms, 1.0) * 10) / 10}};
  out["cipher"] = to_string(rs.cipher);
  out["size"] = size;
  out["sent"] = sent;
  out["received"] = received;
  out["lost"] = sent - received;
  out["corrupt_delivered"] = bad;
  out["send_refused"] = send_refused;
  out["auth_failures"] = rs.srtp_auth_failures;
  out["replays_rejected"] = rs.replays_rejected;
  out["elapsed_s"] = std::round(elapsed * 1000) / 1000;
  out["pps"] = std::lround(received / elapsed);
  out["mbps"] = std::lround(received * size * 8.0 / elapsed / 1e6);
  out["wire_mbps"] = std::lround(rs.wire_bytes_received * 8.0 / elapsed / 1e6);
  out["tx_send_errors"] = ts.send_errors;
  out["srtp_only"] = srtp_only(rs.cipher, static_cast<size_t>(size), 200000);
  std::printf("%s\n", out.dump().c_str());

  pairs.clear();
  run_context_until(
      ctx, [] { return false; }, 20);
  return setup_failures == 0 ? meshcast::app::kExitOk : meshcast::app::kExitFailure;
}

static meshcast::app::RegisterCommand reg("link-bench",
                                          "benchmark PeerLink setup time and SRTP throughput",
                                          run_link_bench);
