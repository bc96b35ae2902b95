#include "mesh/link/loopback_pair.hpp"

#include <nlohmann/json.hpp>

#include "mesh/base/time.hpp"
#include "mesh/link/restart_description.hpp"

namespace meshcast::link {

Expected<std::unique_ptr<LoopbackPair>, std::string> LoopbackPair::create(GMainContext* ctx,
                                                                          LoopbackOptions opts) {
  auto p = std::make_unique<LoopbackPair>();
  if (!opts.offerer_cert) opts.offerer_cert = Certificate::process_default();
  if (!opts.answerer_cert) opts.answerer_cert = Certificate::process_default();
  auto offerer = PeerLink::create(ctx, opts.offerer_config, opts.offerer_cert, Role::kOfferer);
  if (!offerer) return unexpected(std::move(offerer).error());
  p->offerer = std::move(*offerer);
  auto answerer = PeerLink::create(ctx, opts.answerer_config, opts.answerer_cert, Role::kAnswerer);
  if (!answerer) return unexpected(std::move(answerer).error());
  p->answerer = std::move(*answerer);
  LoopbackPair* self = p.get();
  using Member = std::unique_ptr<PeerLink> LoopbackPair::*;
  auto wire = [self](Member from, Member to) {
    (self->*from)->set_on_local_candidate([self, from, to](const std::string& c) {
      // A rejected candidate is dropped, as a peer would drop it.
      if (auto& other = self->*to) other->add_remote_candidate(c, (self->*from)->ice_generation());
    });
    (self->*from)->set_on_gathering_done([self, from, to] {
      if (auto& other = self->*to) other->remote_candidates_done((self->*from)->ice_generation());
    });
  };
  wire(&LoopbackPair::offerer, &LoopbackPair::answerer);
  wire(&LoopbackPair::answerer, &LoopbackPair::offerer);
  // ICE restarts: the offer and the answer go through JSON text like the first exchange.
  p->offerer->set_on_restart([self](uint32_t generation, const SessionDescription& local) {
    auto offer = RestartDescription::parse(RestartDescription{generation, local}.to_json().dump());
    if (!offer || !self->answerer) return;
    ++self->restart_offers;
    if (self->hold_restarts) return;
    if (!self->answerer->set_remote_restart(offer->generation, offer->description)) return;
    auto answer = RestartDescription::parse(
        RestartDescription{generation, self->answerer->local_description()}.to_json().dump());
    if (answer && self->offerer)
      self->offerer->set_remote_restart(answer->generation, answer->description);
  });
  p->opts_ = std::move(opts);
  return p;
}

Expected<void, std::string> LoopbackPair::connect() {
  if (!offerer || !answerer) return unexpected("a link of the pair is gone");
  if (auto r = offerer->start(); !r) return r;
  std::string text = offerer->local_description().to_json_string();
  auto offer = SessionDescription::parse(text);
  if (!offer) return unexpected(std::move(offer).error());
  if (opts_.mutate_offer) opts_.mutate_offer(*offer);
  if (auto r = answerer->set_remote_description(*offer); !r) return r;
  if (auto r = answerer->start(); !r) return r;
  text = answerer->local_description().to_json_string();
  auto answer = SessionDescription::parse(text);
  if (!answer) return unexpected(std::move(answer).error());
  if (opts_.mutate_answer) opts_.mutate_answer(*answer);
  return offerer->set_remote_description(*answer);
}

bool run_context_until(GMainContext* ctx, const std::function<bool()>& pred, int timeout_ms) {
  int64_t deadline = meshcast::monotonic_us() + int64_t{timeout_ms} * 1000;
  while (!pred()) {
    if (meshcast::monotonic_us() >= deadline) return pred();
    // Non-blocking iteration plus a short wait keeps the deadline honoured even
    // when no source is ready.
    if (!g_main_context_iteration(ctx, FALSE)) g_usleep(200);
  }
  return true;
}

}  // namespace meshcast::link
