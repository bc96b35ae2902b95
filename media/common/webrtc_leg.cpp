#include "media/common/webrtc_leg.hpp"

#define GST_USE_UNSTABLE_API  // gst/webrtc in 1.22 warns without it
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include "media/common/gst_util.hpp"

namespace meshcast::media {

struct WebrtcLeg::Shared {
  GstElementPtr webrtc;
  std::shared_ptr<MainContextQueue> queue;
  WebrtcLeg* owner = nullptr;  // only dereferenced inside functions posted to `queue`
};

namespace {

using SharedRef = std::shared_ptr<WebrtcLeg::Shared>;

// Promise user data: a heap copy of the shared state's handle, freed with the promise.
template <typename S>
gpointer hold(const std::shared_ptr<S>& s) {
  return new std::shared_ptr<S>(s);
}
template <typename S>
void release(gpointer p) {
  delete static_cast<std::shared_ptr<S>*>(p);
}

std::string promise_error(GstPromise* promise, const char* what) {
  if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED)
    return std::string(what) + ": no reply";
  const GstStructure* r = gst_promise_get_reply(promise);
  if (r && gst_structure_has_field(r, "error")) {
    GError* e = nullptr;
    gst_structure_get(r, "error", G_TYPE_ERROR, &e, nullptr);
    GErrorPtr err(e);
    return std::string(what) + ": " + (err ? err->message : "refused");
  }
  return {};
}

}  // namespace

bool restrict_ice(GstElement* webrtcbin, const std::vector<std::string>& addresses) {
  GObject* raw = nullptr;
  g_object_get(webrtcbin, "ice-agent", &raw, nullptr);
  GObjectPtr<GObject> ice(raw);
  if (!ice || !g_signal_lookup("add-local-ip-address", G_OBJECT_TYPE(ice.get()))) return false;
  bool ok = true;
  for (const auto& a : addresses) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice.get(), "add-local-ip-address", a.c_str(), &added);
    ok = ok && added;
  }
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice.get()), "ice-tcp"))
    g_object_set(ice.get(), "ice-tcp", FALSE, nullptr);
  // libnice's UPnP IGD is on by default: it would send SSDP multicast on every interface.
  raw = nullptr;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice.get()), "agent"))
    g_object_get(ice.get(), "agent", &raw, nullptr);
  GObjectPtr<GObject> agent(raw);
  if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent.get()), "upnp"))
    g_object_set(agent.get(), "upnp", FALSE, nullptr);
  else
    ok = false;
  return ok;
}

WebrtcLeg::WebrtcLeg(GMainContext* context, WebrtcLegConfig config)
    : context_(context), config_(std::move(config)) {}

WebrtcLeg::~WebrtcLeg() { stop(); }

MainContextQueue& WebrtcLeg::queue() { return *shared_->queue; }

Expected<void, std::string> WebrtcLeg::build(const std::string& description) {
  if (auto b = runner_.build(description); !b) return b;
  webrtc_ = runner_.element("webrtc");
  if (!webrtc_) return unexpected(std::string("no webrtcbin (gstreamer1.0-plugins-bad)"));
  if (config_.local_addresses.empty() || !restrict_ice(webrtc_.get(), config_.local_addresses))
    return unexpected(std::string("cannot restrict webrtcbin's ICE agent to the local addresses"));
  if (!config_.stun_server.empty())
    g_object_set(webrtc_.get(), "stun-server", config_.stun_server.c_str(), nullptr);
  for (const auto& t : config_.turn_servers) {
    gboolean added = FALSE;
    g_signal_emit_by_name(webrtc_.get(), "add-turn-server", t.c_str(), &added);
    if (!added) return unexpected("webrtcbin refused the TURN server " + t);
  }
  shared_ = std::make_shared<Shared>();
  shared_->queue = std::make_shared<MainContextQueue>(context_);
  shared_->webrtc.reset(GST_ELEMENT(gst_object_ref(webrtc_.get())));
  shared_->owner = this;
  g_signal_connect(webrtc_.get(), "notify::ice-gathering-state", G_CALLBACK(&on_gathering),
                   shared_.get());
  g_signal_connect(webrtc_.get(), "notify::connection-state", G_CALLBACK(&on_connection_state),
                   shared_.get());
  runner_.set_on_error([this](const std::string& e) {
    if (on_error_) on_error_(e);
  });
  runner_.watch_bus(context_);
  return {};
}

void WebrtcLeg::answer(const std::string& offer, AnswerFn done) {
  if (!webrtc_) return done(unexpected(std::string("no pipeline")));
  GstSDPMessage* sdp = nullptr;
  if (gst_sdp_message_new_from_text(offer.c_str(), &sdp) != GST_SDP_OK || !sdp)
    return done(unexpected(std::string("the offer is not SDP")));
  GstWebRTCSessionDescription* desc =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);  // takes sdp
  if (auto p = runner_.play("webrtcbin did not start"); !p) {
    gst_webrtc_session_description_free(desc);
    return done(unexpected(p.error()));
  }
  pending_answer_ = std::move(done);
  gather_timer_ = SourceGuard::timeout(
      config_.gather_timeout_ms,
      +[](gpointer self) -> gboolean {
        static_cast<WebrtcLeg*>(self)->check_gathered(/*timed_out=*/true);
        return G_SOURCE_REMOVE;
      },
      this, context_);
  GstPromise* promise =
      gst_promise_new_with_change_func(&WebrtcLeg::on_remote_set, hold(shared_), &release<Shared>);
  g_signal_emit_by_name(webrtc_.get(), "set-remote-description", desc, promise);
  gst_webrtc_session_description_free(desc);
}

void WebrtcLeg::on_remote_set(GstPromise* promise, gpointer data) {
  GstPromisePtr own(promise);
  const SharedRef& s = *static_cast<SharedRef*>(data);
  if (std::string e = promise_error(promise, "the offer was refused"); !e.empty()) {
    s->queue->post([leg = s->owner, e] { leg->finish_answer(unexpected(e)); });
    return;
  }
  GstPromise* next =
      gst_promise_new_with_change_func(&WebrtcLeg::on_answer_created, hold(s), &release<Shared>);
  g_signal_emit_by_name(s->webrtc.get(), "create-answer", nullptr, next);
}

void WebrtcLeg::on_answer_created(GstPromise* promise, gpointer data) {
  GstPromisePtr own(promise);
  const SharedRef& s = *static_cast<SharedRef*>(data);
  std::string e = promise_error(promise, "no answer to the offer");
  const GstStructure* r = e.empty() ? gst_promise_get_reply(promise) : nullptr;
  GstWebRTCSessionDescription* answer = nullptr;
  if (r) gst_structure_get(r, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
  if (!answer) {
    if (e.empty()) e = "no answer to the offer";
    s->queue->post([leg = s->owner, e] { leg->finish_answer(unexpected(e)); });
    return;
  }
  g_signal_emit_by_name(s->webrtc.get(), "set-local-description", answer, nullptr);
  gst_webrtc_session_description_free(answer);
  s->queue->post([leg = s->owner] { leg->check_gathered(); });
}

void WebrtcLeg::on_gathering(GObject*, GParamSpec*, gpointer data) {
  auto* s = static_cast<Shared*>(data);
  s->queue->post([leg = s->owner] { leg->check_gathered(); });
}

void WebrtcLeg::on_connection_state(GObject* webrtc, GParamSpec*, gpointer data) {
  auto* s = static_cast<Shared*>(data);
  GstWebRTCPeerConnectionState st = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  g_object_get(webrtc, "connection-state", &st, nullptr);
  static const char* const kNames[] = {"new",          "connecting", "connected",
                                       "disconnected", "failed",     "closed"};
  const std::string name = unsigned(st) < 6 ? kNames[st] : "unknown";
  s->queue->post([leg = s->owner, name] {
    leg->state_ = name;
    if (leg->on_state_) leg->on_state_(name);
  });
}

// Answers once gathering is complete, or at the timeout with what was gathered so far.
void WebrtcLeg::check_gathered(bool timed_out) {
  if (!pending_answer_ || !webrtc_) return;
  GstWebRTCICEGatheringState gs = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
  g_object_get(webrtc_.get(), "ice-gathering-state", &gs, nullptr);
  if (!timed_out && gs != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(webrtc_.get(), "local-description", &local, nullptr);
  if (!local) {
    if (timed_out) finish_answer(unexpected(std::string("no answer within the gathering timeout")));
    return;
  }
  GCharPtr text(gst_sdp_message_as_text(local->sdp));
  gst_webrtc_session_description_free(local);
  finish_answer(std::string(text.get()));
}

void WebrtcLeg::finish_answer(Expected<std::string, std::string> result) {
  if (!pending_answer_) return;
  gather_timer_.reset();
  auto done = std::move(pending_answer_);
  pending_answer_ = nullptr;
  done(std::move(result));
}

void WebrtcLeg::add_remote_candidate(unsigned mline, const std::string& candidate) {
  if (webrtc_) g_signal_emit_by_name(webrtc_.get(), "add-ice-candidate", mline, candidate.c_str());
}

void WebrtcLeg::stop() {
  gather_timer_.reset();
  pending_answer_ = nullptr;
  if (webrtc_) {
    runner_.stop();  // NULL: webrtcbin's threads are joined
    g_signal_handlers_disconnect_by_data(webrtc_.get(), shared_.get());
  }
  if (shared_) shared_->queue->close();
  webrtc_.reset();
}

}  // namespace meshcast::media
