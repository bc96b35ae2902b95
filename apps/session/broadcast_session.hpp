// The broadcaster: capture + encode (or a synthetic payload), cut into segments, sign
// each with the stream's Ed25519 key, register the stream and feed the mesh as its
// source, which serves only a few copies.
#pragma once
#include <glib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "apps/session/tracker_clock.hpp"
#include "apps/session/tracker_signaling.hpp"
#include "apps/session/whip_ingest.hpp"
#include "media/broadcast/broadcast_source.hpp"
#include "media/broadcast/segmenter.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/core/ed25519.hpp"
#include "mesh/node/mesh_peer.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

struct BroadcastOptions {
  std::string tracker_url;
  std::string stream;
  std::string peer_id = "broadcaster";
  bool is_private = false;
  std::string view_key;
  int bitrate_kbps = 800;
  int segment_ms = 200;
  int source_copies = 4;
  // Real capture + encode; when unset a synthetic payload of the same rate is sent
  // (swarm benchmarks: measures the mesh, not the encoder).
  std::optional<media::BroadcastConfig> media;
  // WHIP ingest instead of capture: a publisher (OBS, a browser) sends the media, passed
  // through unchanged.
  std::optional<WhipIngestOptions> whip;
  link::LinkConfig link;
  signaling::TrackerClientOptions client;
};

struct BroadcastCounters {
  uint64_t segments = 0;
  uint64_t payload_bytes = 0;
};

class BroadcastSession {
 public:
  using FatalFn = std::function<void(const std::string& message, int exit_code)>;

  BroadcastSession(GMainContext* ctx, BroadcastOptions opt,
                   std::shared_ptr<link::Certificate> cert);
  ~BroadcastSession();

  void start();
  void stop();
  void set_on_fatal(FatalFn fn) { on_fatal_ = std::move(fn); }
  void set_on_live(std::function<void()> fn) { on_live_ = std::move(fn); }
  // Makes the stream private with a new view key: the tracker removes every member who has
  // not shown it (they get `stream_access_revoked`). done(error): empty on success.
  void rotate_view_key(const std::string& key, std::function<void(const std::string&)> done);

  bool live() const { return peer_ != nullptr; }
  node::MeshPeer* peer() { return peer_.get(); }
  const BroadcastCounters& counters() const { return counters_; }
  // Media bytes the source sent / media bytes produced.
  double upload_copies() const;
  nlohmann::json status_json() const;
  const mesh::PublicKey& public_key() const { return public_key_; }

 private:
  void on_connected();
  void go_live();
  void start_whip();
  void new_segmenter(const media::StreamHeader& header);
  void publish_batch(const media::FrameBatch& batch);
  void publish_payload(std::shared_ptr<std::vector<uint8_t>> payload);
  void fatal(const std::string& msg, int code);
  static gboolean on_synthetic_tick(gpointer self);
  static gboolean on_report_tick(gpointer self);

  GMainContext* ctx_;
  BroadcastOptions opt_;
  std::shared_ptr<link::Certificate> cert_;
  std::unique_ptr<signaling::TrackerClient> client_;
  std::unique_ptr<TrackerClock> clock_;
  std::unique_ptr<TrackerSignaling> signaling_;
  std::optional<mesh::Ed25519Signer> signer_;
  mesh::PublicKey public_key_{};
  std::string secret_;  // the tracker's owner secret: re-claims the stream after a lost session
  std::unique_ptr<node::MeshPeer> peer_;
  std::unique_ptr<media::BroadcastSource> source_;
  std::unique_ptr<media::Segmenter> segmenter_;
  std::unique_ptr<WhipIngest> whip_;
  BroadcastCounters counters_;
  uint32_t next_number_ = 0;
  uint64_t synthetic_seq_ = 0;
  media::SourceGuard synthetic_timer_;
  media::SourceGuard report_timer_;
  int64_t started_us_ = 0;
  bool stopped_ = false;
  FatalFn on_fatal_;
  std::function<void()> on_live_;
};

}  // namespace meshcast::app
