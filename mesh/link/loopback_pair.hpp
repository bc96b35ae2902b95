// Two PeerLinks in one process wired to each other without a tracker: descriptions
// go through JSON text (to_json_string -> parse), candidates trickle directly.
// For tests, benchmarks and demos.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "mesh/base/expected.hpp"
#include "mesh/link/peer_link.hpp"

namespace meshcast::link {

struct LoopbackOptions {
  LinkConfig offerer_config;
  LinkConfig answerer_config;
  std::shared_ptr<Certificate> offerer_cert;   // default: Certificate::process_default()
  std::shared_ptr<Certificate> answerer_cert;  // default: Certificate::process_default()
  // Tests: edit a description after it is serialised and parsed, before delivery.
  std::function<void(SessionDescription&)> mutate_offer;
  std::function<void(SessionDescription&)> mutate_answer;
};

class LoopbackPair {
 public:
  // Creates both links and wires candidate trickling. Set your callbacks on the
  // links (not set_on_local_candidate / set_on_gathering_done), then connect().
  static Expected<std::unique_ptr<LoopbackPair>, std::string> create(GMainContext* ctx,
                                                                     LoopbackOptions opts);
  // Starts both and exchanges offer/answer. Returns at once; run the context until
  // both report kConnected (or kFailed).
  Expected<void, std::string> connect();
  bool both(LinkState s) const {
    return offerer && answerer && offerer->state() == s && answerer->state() == s;
  }

  // Either may be reset() to simulate a vanished peer; the other stops trickling to it.
  std::unique_ptr<PeerLink> offerer;
  std::unique_ptr<PeerLink> answerer;
  // ICE restart offers the offerer made (each is delivered to the answerer, unless
  // hold_restarts: then they are dropped, as a dead signalling path would).
  int restart_offers = 0;
  bool hold_restarts = false;

 private:
  LoopbackOptions opts_;
};

// Iterates `ctx` until pred() is true or timeout_ms elapses; returns pred().
bool run_context_until(GMainContext* ctx, const std::function<bool()>& pred, int timeout_ms);

}  // namespace meshcast::link
