#include "apps/session/broadcast_session.hpp"

#include "apps/cli/status.hpp"
#include "apps/exit_code.hpp"
#include "apps/session/session_common.hpp"
#include "media/broadcast/frame_codec.hpp"
#include "media/common/gst_util.hpp"

namespace meshcast::app {

BroadcastSession::BroadcastSession(GMainContext* ctx, BroadcastOptions opt,
                                   std::shared_ptr<link::Certificate> cert)
    : ctx_(ctx), opt_(std::move(opt)), cert_(std::move(cert)) {}

BroadcastSession::~BroadcastSession() {
  synthetic_timer_.reset();
  report_timer_.reset();
  if (source_) source_->stop();
  source_.reset();
  whip_.reset();
  peer_.reset();
  clock_.reset();
  client_.reset();
}

void BroadcastSession::start() {
  started_us_ = g_get_real_time();
  signer_ = mesh::Ed25519Signer::generate();
  if (!signer_) return fatal("cannot generate the stream's Ed25519 key", kExitFailure);
  public_key_ = signer_->public_key();
  client_ = std::make_unique<signaling::TrackerClient>(opt_.client);
  clock_ = std::make_unique<TrackerClock>(*client_);
  signaling_ = std::make_unique<TrackerSignaling>(*client_, opt_.stream);
  client_->set_on_state([this](signaling::ClientState s, const std::string& why) {
    if (s == signaling::ClientState::kConnected) on_connected();
    if (s == signaling::ClientState::kDisconnected && peer_ && !stopped_)
      log_msg(LogLevel::Warn,
              "lost the tracker (%s): the stream goes on over the mesh links; "
              "reconnecting",
              why.c_str());
    if (s == signaling::ClientState::kFailed)
      fatal("cannot reach the tracker at " + opt_.tracker_url + ": " + why, kExitUnreachable);
  });
  signaling_->attach_events();
  client_->connect(opt_.tracker_url);
}

void BroadcastSession::on_connected() {
  signaling::HelloParams h;
  h.peer_id = opt_.peer_id;
  h.role = "broadcaster";
  h.upload_kbps = int64_t(opt_.bitrate_kbps) * opt_.source_copies;
  client_->hello(h, [this](const signaling::Reply& r) {
    if (!r.ok)
      return fatal(
          "tracker refused hello: " + r.message + " (" + r.code + ")",
          r.code == "duplicate_peer_id" || r.code == "id_taken" ? kExitRefused : kExitFailure);
    if (peer_ && client_->resumed()) {
      log_msg(LogLevel::Info, "tracker session resumed: stream '%s' kept", opt_.stream.c_str());
      return;
    }
    signaling::StreamParams sp;
    sp.name = opt_.stream;
    sp.secret = secret_;  // back after a tracker restart or a lost session: re-claim
    sp.public_key = to_hex(public_key_.data(), public_key_.size());
    sp.codec = {
        {"video", opt_.whip                                                               ? "whip"
                  : opt_.media && opt_.media->video.type != media::SourceSpec::Type::None ? "VP8"
                                                                                          : "none"},
        {"audio", opt_.whip ? "opus"
                  : opt_.media && opt_.media->audio.type != media::SourceSpec::Type::None
                      ? "opus"
                      : (opt_.media ? "none" : "synthetic")},
        {"segment_ms", opt_.segment_ms}};
    sp.bitrate_kbps = opt_.bitrate_kbps;
    sp.is_private = opt_.is_private;
    sp.view_key = opt_.view_key;
    client_->create_stream(sp, [this](const signaling::Reply& c) {
      if (c.ok) secret_ = c.body.value("secret", secret_);
      if (!c.ok) {
        if (c.code == "stream_exists")
          return fatal("a stream named '" + opt_.stream + "' already exists on this tracker",
                       kExitRefused);
        return fatal("cannot create the stream: " + c.message + " (" + c.code + ")", kExitFailure);
      }
      if (peer_) {
        log_msg(LogLevel::Info, "stream '%s' registered again at the tracker", opt_.stream.c_str());
        return;
      }
      // Segments are stamped on the tracker's clock: measure our offset to it first.
      clock_->start([this] {
        if (peer_ || stopped_) return;
        go_live();
        // Live: a lost tracker no longer ends the broadcast, the mesh links carry it.
        client_->set_max_reconnect_attempts(-1);
      });
    });
  });
}

void BroadcastSession::go_live() {
  node::MeshPeerConfig pc;
  pc.self_id = client_->peer_id();
  pc.clock = [this] { return clock_->now_us(); };
  pc.core.is_source = true;
  pc.core.stream_id = stream_id_for(opt_.stream);
  pc.core.stream_bps = uint64_t(opt_.bitrate_kbps) * 1000;
  pc.core.segment_us = int64_t(opt_.segment_ms) * 1000;
  pc.core.source_copies = uint32_t(opt_.source_copies);
  pc.core.upload_bps = pc.core.stream_bps * (opt_.source_copies + 1) * 2;
  pc.core.seed = 7;
  pc.link = with_tracker_turn(opt_.link, *client_);
  peer_ = std::make_unique<node::MeshPeer>(ctx_, pc, *signaling_, cert_);
  signaling_->set_peer(peer_.get());
  peer_->start();

  if (opt_.whip) {
    start_whip();
  } else if (opt_.media) {
    media::ensure_gst_init();
    source_ = std::make_unique<media::BroadcastSource>(ctx_, *opt_.media);
    media::SegmenterConfig sc;
    sc.target_us = int64_t(opt_.segment_ms) * 1000;
    sc.min_us = sc.target_us / 2;
    sc.max_us = sc.target_us * 2;
    segmenter_ = std::make_unique<media::Segmenter>(source_->header(), sc);
    source_->set_on_frame([this](const media::MediaFrame& f) {
      if (auto batch = segmenter_->push(f)) publish_batch(*batch);
    });
    source_->set_on_error(
        [this](const std::string& e) { fatal("capture failed: " + e, kExitFailure); });
    if (auto r = source_->start(); !r)
      return fatal("cannot start capture: " + r.error(), kExitFailure);
    for (auto& w : source_->warnings()) g_message("meshcast: %s", w.c_str());
  } else {
    synthetic_timer_ =
        media::SourceGuard::timeout(opt_.segment_ms, &BroadcastSession::on_synthetic_tick, this);
  }
  report_timer_ = media::SourceGuard::timeout(1000, &BroadcastSession::on_report_tick, this);
  if (on_live_) on_live_();
}

void BroadcastSession::new_segmenter(const media::StreamHeader& header) {
  if (segmenter_)
    if (auto rest = segmenter_->flush()) publish_batch(*rest);
  media::SegmenterConfig sc;
  sc.target_us = int64_t(opt_.segment_ms) * 1000;
  sc.min_us = sc.target_us / 2;
  sc.max_us = sc.target_us * 2;
  segmenter_ = std::make_unique<media::Segmenter>(header, sc);
}

void BroadcastSession::start_whip() {
  media::ensure_gst_init();
  whip_ = std::make_unique<WhipIngest>(ctx_, *opt_.whip);
  // The publisher's size (and, for a new publisher, everything else) fixes the header.
  whip_->set_on_header([this](const media::StreamHeader& h) { new_segmenter(h); });
  whip_->set_on_frame([this](const media::MediaFrame& f) {
    if (segmenter_)
      if (auto batch = segmenter_->push(f)) publish_batch(*batch);
  });
  whip_->set_on_publisher([this](bool live, const std::string&) {
    if (!live && segmenter_)
      if (auto rest = segmenter_->flush()) publish_batch(*rest);
  });
  if (auto r = whip_->start(); !r) return fatal("WHIP endpoint: " + r.error(), kExitFailure);
  g_message("meshcast: WHIP endpoint at %s", whip_->url().c_str());
}

void BroadcastSession::publish_batch(const media::FrameBatch& batch) {
  auto bytes = media::serialize_frame_batch(batch);
  if (!bytes) {
    g_warning("meshcast: cannot serialize segment: %s", media::to_string(bytes.error()));
    return;
  }
  publish_payload(std::make_shared<std::vector<uint8_t>>(std::move(*bytes)));
}

gboolean BroadcastSession::on_synthetic_tick(gpointer p) {
  auto* self = static_cast<BroadcastSession*>(p);
  // A valid audio-only batch of the stream's size, so `watch --out null` can parse it.
  media::FrameBatch b;
  b.header.audio_codec = media::StreamHeader::AudioCodec::Opus;
  b.header.audio_rate = 48000;
  b.header.audio_channels = 2;
  b.keyframe_start = true;
  size_t bytes = size_t(self->opt_.bitrate_kbps) * self->opt_.segment_ms / 8;
  int frames = std::max(1, self->opt_.segment_ms / 20);
  for (int i = 0; i < frames; ++i) {
    media::MediaFrame f;
    f.kind = media::MediaFrame::Kind::Audio;
    f.keyframe = true;
    f.pts_us = int64_t(self->synthetic_seq_++) * 20'000;
    f.duration_us = 20'000;
    f.data.resize(std::max<size_t>(1, bytes / frames), uint8_t(f.pts_us));
    b.frames.push_back(std::move(f));
  }
  self->publish_batch(b);
  return G_SOURCE_CONTINUE;
}

void BroadcastSession::publish_payload(std::shared_ptr<std::vector<uint8_t>> payload) {
  if (!peer_ || stopped_) return;
  mesh::Segment seg;
  seg.header.stream_id = stream_id_for(opt_.stream);
  seg.header.number = next_number_++;
  seg.header.created_us = clock_->now_us();
  seg.header.size = uint32_t(payload->size());
  seg.payload = std::move(payload);
  ++counters_.segments;
  counters_.payload_bytes += seg.header.size;
  peer_->publish(seg, *signer_);
}

double BroadcastSession::upload_copies() const {
  if (!peer_ || counters_.payload_bytes == 0) return 0;
  return double(peer_->stats().media_bytes_sent) / double(counters_.payload_bytes);
}

gboolean BroadcastSession::on_report_tick(gpointer p) {
  auto* self = static_cast<BroadcastSession*>(p);
  if (!self->peer_) return G_SOURCE_CONTINUE;
  std::vector<signaling::Partner> parts;
  for (auto& pi : self->peer_->partners())
    if (pi.connected) parts.push_back({pi.id, pi.child ? "child" : "pull"});
  auto s = self->status_json();
  self->client_->report(parts,
                        {{"upload_copies", s["upload_copies"]},
                         {"upload_kbps", s["upload_kbps"]},
                         {"segments", s["segments"]}},
                        self->opt_.stream);
  return G_SOURCE_CONTINUE;
}

void BroadcastSession::rotate_view_key(const std::string& key,
                                       std::function<void(const std::string&)> done) {
  if (!client_ || key.empty()) return done("not connected, or an empty key");
  client_->update_stream(opt_.stream, {{"private", true}, {"view_key", key}},
                         [this, key, done](const signaling::Reply& r) {
                           if (r.ok) opt_.view_key = key;
                           done(r.ok ? "" : r.message + " (" + r.code + ")");
                         });
}

nlohmann::json BroadcastSession::status_json() const {
  double elapsed = std::max(1.0, (g_get_real_time() - started_us_) / 1e6);
  nlohmann::json j;
  j["t"] = g_get_real_time() / 1e6;
  j["segments"] = counters_.segments;
  j["upload_copies"] = upload_copies();
  j["upload_kbps"] = peer_ ? peer_->stats().media_bytes_sent * 8 / 1e3 / elapsed : 0.0;
  j["bitrate_kbps"] = counters_.payload_bytes * 8 / 1e3 / elapsed;
  j["partners"] = peer_ ? peer_->partners().size() : 0;
  j["tracker_retries"] = client_ ? client_->reconnect_attempts() : 0;
  j["clock_offset_ms"] = clock_ ? clock_->offset_us() / 1e3 : 0.0;
  if (whip_) j["whip"] = whip_->status_json();
  return j;
}

void BroadcastSession::fatal(const std::string& msg, int code) {
  if (stopped_) return;
  if (on_fatal_) on_fatal_(msg, code);
}

void BroadcastSession::stop() {
  if (stopped_) return;
  stopped_ = true;
  synthetic_timer_.reset();
  report_timer_.reset();
  if (source_) source_->stop();
  whip_.reset();
  if (peer_) peer_->stop();
  if (client_ && client_->state() == signaling::ClientState::kConnected) {
    client_->end_stream(opt_.stream, [](const signaling::Reply&) {});
    // Leaving frees our id at once instead of after the resume grace.
    client_->leave([](const signaling::Reply&) {});
  }
}

}  // namespace meshcast::app
