#include "apps/session/whep_hub.hpp"

#include <algorithm>

#include "mesh/base/time.hpp"

namespace meshcast::app {

using media::StreamHeader;

const std::string& whep_player_js() {
  static const std::string js =
      R"JS(// meshcast WHEP player: meshcastWhep(videoElement, endpointUrl[, token]) -> RTCPeerConnection
async function meshcastWhep(video, url, token) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
  await pc.setLocalDescription(await pc.createOffer());
  // WHEP answers once: send every candidate with the offer.
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    const t = setTimeout(done, 2000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); done(); }
    });
  });
  const headers = {'Content-Type': 'application/sdp'};
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const r = await fetch(url, {method: 'POST', headers, body: pc.localDescription.sdp});
  const body = await r.text();
  if (r.status !== 201) { pc.close(); const e = new Error('WHEP ' + r.status + ': ' + body.trim()); e.status = r.status; throw e; }
  pc.meshcastResource = new URL(r.headers.get('Location'), url).toString();
  await pc.setRemoteDescription({type: 'answer', sdp: body});
  window.addEventListener('pagehide', () => {
    fetch(pc.meshcastResource, {method: 'DELETE', headers, keepalive: true});
  });
  return pc;
}
)JS";
  return js;
}

const std::string& whep_player_html() {
  static const std::string html = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>meshcast</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif}
video{display:block;width:100vw;max-height:90vh;background:#000}#s{padding:6px 10px}</style>
</head><body>
<video id="v" autoplay playsinline controls muted></video>
<div id="s">connecting...</div>
<script src="/player.js"></script>
<script>
const v = document.getElementById('v'), s = document.getElementById('s');
const token = new URLSearchParams(location.search).get('token');
let pc = null;
async function connect() {
  try {
    pc = await meshcastWhep(v, '/whep', token);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') setTimeout(connect, 1000);
    });
  } catch (e) {
    s.textContent = e.message + ' - retrying';
    setTimeout(connect, e.status === 401 ? 10000 : 1000);
  }
}
async function status() {
  try {
    const j = await (await fetch('/status')).json();
    const fmt = (x, d) => (typeof x === 'number' ? x.toFixed(d) : '-');
    s.textContent = 'browser ' + (pc ? pc.connectionState : 'connecting') +
      ' | lag ' + fmt(j.lag_ms, 0) + ' ms | continuity ' + fmt(100 * j.continuity, 1) +
      ' % | partners ' + (j.partners ?? '-') + ' | browser legs ' + j.whep.legs;
  } catch (e) { /* the viewer is restarting: keep the last line */ }
}
connect();
setInterval(status, 1000);
</script></body></html>
)HTML";
  return html;
}

WhepHub::WhepHub(GMainContext* context, WhepHubOptions options)
    : context_(context), opt_(std::move(options)), http_([&] {
        WebrtcHttpOptions h = opt_.http;
        h.pages["/"] = {"text/html; charset=utf-8", whep_player_html()};
        h.pages["/player.js"] = {"text/javascript; charset=utf-8", whep_player_js()};
        h.live_pages["/status"] = [this] {
          return WebrtcHttpOptions::Page{"application/json", status_json().dump()};
        };
        return h;
      }()) {}

WhepHub::~WhepHub() {
  sweep_.reset();
  legs_.clear();
}

Expected<void, std::string> WhepHub::start() {
  http_.set_on_offer(
      [this](const std::string& id, const std::string& offer, const signaling::SdpOffer& parsed,
             WebrtcHttpServer::Reply reply) { on_offer(id, offer, parsed, std::move(reply)); });
  http_.set_on_delete([this](const std::string& id) { end_later(id, "deleted by the browser"); });
  sweep_ = media::SourceGuard::timeout(250, &WhepHub::on_sweep, this, context_);
  return http_.start();
}

void WhepHub::on_offer(const std::string& id, const std::string& offer,
                       const signaling::SdpOffer& parsed, WebrtcHttpServer::Reply reply) {
  if (!header_)
    return reply(unexpected(HttpError{503, "the stream is not playing here yet; retry shortly"}));
  if (legs_.size() >= opt_.max_legs)
    return reply(unexpected(HttpError{
        503, "this viewer serves " + std::to_string(opt_.max_legs) + " browsers already"}));
  const bool h264 = header_->video_codec == StreamHeader::VideoCodec::H264;
  const auto chosen = signaling::choose_play_codecs(parsed,
                                                    !header_->has_video() ? ""
                                                    : h264                ? "H264"
                                                                          : "VP8",
                                                    header_->has_audio());
  media::WhepCodecs codecs{chosen.video_pt, chosen.audio_pt};
  if (codecs.video_pt < 0 && codecs.audio_pt < 0)
    return reply(unexpected(
        HttpError{400, std::string("the offer takes none of the stream's codecs (") +
                           (h264 ? "H.264" : "VP8") + " video, Opus audio) as recvonly"}));
  Leg leg;
  leg.sender = std::make_unique<media::WhepSender>(context_, opt_.leg, *header_, codecs);
  leg.created_us = monotonic_us();
  auto* sender = leg.sender.get();
  legs_[id] = std::move(leg);
  ++legs_opened_;
  sender->set_on_closed([this, id](const std::string& why) { end_later(id, why); });
  sender->start(offer, [this, id, reply](Expected<std::string, std::string> answer) {
    if (!answer) {
      end_later(id, answer.error());
      return reply(unexpected(HttpError{400, answer.error()}));
    }
    reply(*answer);
  });
}

void WhepHub::end_later(const std::string& id, const std::string& why) {
  if (legs_.count(id)) ending_.emplace(id, why);
}

gboolean WhepHub::on_sweep(gpointer p) {
  auto* self = static_cast<WhepHub*>(p);
  const int64_t now = monotonic_us();
  for (auto& [id, leg] : self->legs_) {
    const bool connected = leg.sender->ice_state() == "connected";
    if (connected && leg.connected_us < 0) leg.connected_us = now;
    if (!connected && leg.connected_us < 0 &&
        now - leg.created_us > int64_t(self->opt_.connect_timeout_ms) * 1000)
      self->ending_.emplace(id, "the browser did not connect in time");
    const int64_t heard = std::max(leg.connected_us, leg.sender->last_feedback_us());
    if (leg.connected_us >= 0 && now - heard > int64_t(self->opt_.silence_timeout_ms) * 1000)
      self->ending_.emplace(id, "the browser went silent (no RTCP for " +
                                    std::to_string(self->opt_.silence_timeout_ms / 1000) + " s)");
  }
  auto ending = std::move(self->ending_);
  self->ending_.clear();
  for (auto& [id, why] : ending) {
    auto it = self->legs_.find(id);
    if (it == self->legs_.end()) continue;
    it->second.sender->stop();
    self->legs_.erase(it);
    self->http_.forget(id);
    ++self->legs_closed_;
    g_message("meshcast: WHEP leg %s ended: %s", id.c_str(), why.c_str());
  }
  return G_SOURCE_CONTINUE;
}

void WhepHub::push_batch(const media::FrameBatch& batch) {
  if (!header_ || header_->video_codec != batch.header.video_codec ||
      header_->has_audio() != batch.header.has_audio()) {
    if (batch.keyframe_start) header_ = batch.header;  // a leg may start here
    if (!header_) return;
  } else {
    header_ = batch.header;  // the size may change
  }
  for (auto& [id, leg] : legs_)
    for (const auto& f : batch.frames) leg.sender->push(batch.header, f);
}

nlohmann::json WhepHub::status_json() const {
  nlohmann::json j = status_ ? status_() : nlohmann::json::object();
  nlohmann::json w;
  w["url"] = url();
  w["legs"] = legs_.size();
  w["legs_opened"] = legs_opened_;
  w["legs_closed"] = legs_closed_;
  uint64_t vf = 0;
  for (auto& [id, leg] : legs_) vf += leg.sender->stats().video_frames;
  w["video_frames_sent"] = vf;
  w["http"] = http_.status_counts();
  j["whep"] = w;
  return j;
}

}  // namespace meshcast::app
