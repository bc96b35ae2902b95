#include "apps/session/swarm.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "apps/session/session_common.hpp"

namespace meshcast::app {

namespace {
double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
nlohmann::json dist(const std::vector<double>& v) {
  return {{"p50", percentile(v, 0.5)}, {"p95", percentile(v, 0.95)}, {"n", v.size()}};
}
size_t connected_partners(ViewerSession& s) {
  if (!s.peer()) return 0;
  size_t n = 0;
  for (auto& p : s.peer()->partners()) n += p.connected;
  return n;
}
}  // namespace

Swarm::Swarm(SwarmOptions opt) : opt_(std::move(opt)), rng_(opt_.seed) {}

Swarm::~Swarm() {
  if (tick_source_) g_source_remove(tick_source_);
  viewers_.clear();
  graveyard_.clear();
  broadcaster_.reset();
  tracker_.reset();
}

double Swarm::elapsed_s() const { return (g_get_monotonic_time() - start_us_) / 1e6; }

bool Swarm::start(std::string* error) {
  start_us_ = g_get_monotonic_time();
  cert_ = link::Certificate::process_default();
  if (!cert_) {
    *error = "cannot create the DTLS certificate";
    return false;
  }
  signaling::TrackerServerOptions to;
  to.port = opt_.tracker_port;
  to.log_level = signaling::LogLevel::kError;
  // Every viewer of the swarm shares this process: the per-connection limits still apply.
  tracker_ = std::make_unique<signaling::TrackerServer>(to);
  if (!tracker_->start(error)) return false;

  BroadcastOptions bo;
  bo.tracker_url = tracker_->ws_url();
  bo.stream = opt_.stream;
  bo.bitrate_kbps = opt_.bitrate_kbps;
  bo.segment_ms = opt_.segment_ms;
  bo.source_copies = opt_.source_copies;
  bo.is_private = !opt_.view_key.empty();
  bo.view_key = opt_.view_key;
  if (opt_.real_media) {
    media::BroadcastConfig mc;
    mc.bitrate_kbps = opt_.bitrate_kbps;
    mc.width = 320;
    mc.height = 180;
    mc.fps = 15;
    bo.media = mc;
  }
  broadcaster_ = std::make_unique<BroadcastSession>(nullptr, bo, cert_);
  broadcaster_->set_on_fatal([this](const std::string& m, int) { fatal_ = "broadcaster: " + m; });
  broadcaster_->start();
  tick_source_ = g_timeout_add(100, &Swarm::on_tick, this);
  return true;
}

void Swarm::add_viewer(bool malicious, std::optional<media::PlayerConfig> player) {
  SwarmViewer v;
  v.index = joined_++;
  v.malicious = malicious;
  v.joined_at_s = elapsed_s();
  ViewerOptions vo;
  vo.tracker_url = tracker_->ws_url();
  vo.stream = opt_.stream;
  vo.view_key = opt_.view_key;
  vo.peer_id = "v" + std::to_string(v.index);
  vo.max_upload_kbps = opt_.max_upload_kbps;
  vo.player = std::move(player);
  vo.tamper_relayed = malicious;
  if (opt_.loss > 0) {
    vo.impairment.drop = opt_.loss;
    vo.impairment.seed = opt_.seed * 1000003 + v.index;
  }
  v.session = std::make_unique<ViewerSession>(nullptr, vo, cert_);
  v.session->set_on_fatal([this, idx = v.index](const std::string& m, int) {
    if (fatal_.empty()) fatal_ = "viewer v" + std::to_string(idx) + ": " + m;
  });
  v.session->start();
  viewers_.push_back(std::move(v));
}

gboolean Swarm::on_tick(gpointer p) {
  static_cast<Swarm*>(p)->tick();
  return G_SOURCE_CONTINUE;
}

void Swarm::tick() {
  if (!broadcaster_ || !broadcaster_->live()) return;
  double t = elapsed_s();
  // Initial joins, spread evenly over join_spread_s once the stream is live.
  while (joined_ < opt_.viewers) {
    double due = opt_.viewers <= 1 ? 0 : opt_.join_spread_s * joined_ / (opt_.viewers - 1);
    if (!viewers_.empty() && t - viewers_.front().joined_at_s < due) break;
    int idx = joined_;
    std::optional<media::PlayerConfig> player;
    for (auto& [i, pc] : opt_.recorders)
      if (i == idx) player = pc;
    bool bad = std::find(opt_.tamperers.begin(), opt_.tamperers.end(), idx) != opt_.tamperers.end();
    add_viewer(bad, player);
  }
  // Churn: kill a random live honest viewer and let a new one join in its place.
  if (opt_.churn_per_min > 0 && joined_ >= opt_.viewers) {
    churn_credit_ += opt_.churn_per_min / 600.0;  // per 100 ms tick
    while (churn_credit_ >= 1) {
      churn_credit_ -= 1;
      std::vector<size_t> live;
      for (size_t i = 0; i < viewers_.size(); ++i)
        if (viewers_[i].alive && !viewers_[i].malicious && viewers_[i].session->metrics().played)
          live.push_back(i);
      if (live.empty()) break;
      auto& v = viewers_[live[rng_() % live.size()]];
      v.session->stop(false);
      v.alive = false;
      v.left_at_s = t;
      add_viewer(false, std::nullopt);
    }
  }
  // Recovery after a mass kill: back to the partner count it had.
  for (auto it = recovering_.begin(); it != recovering_.end();) {
    auto& v = viewers_[size_t(it->index)];
    if (!v.alive) {
      it = recovering_.erase(it);
      continue;
    }
    size_t target = std::min<size_t>(it->before, 4);
    if (connected_partners(*v.session) >= target) {
      recovery_ms_.push_back((g_get_monotonic_time() - it->since_us) / 1e3);
      it = recovering_.erase(it);
    } else {
      ++it;
    }
  }
}

int Swarm::kill_fraction(double fraction) {
  std::vector<size_t> live;
  for (size_t i = 0; i < viewers_.size(); ++i) {
    if (!viewers_[i].alive || viewers_[i].malicious) continue;
    bool recorder = false;
    for (auto& [ri, pc] : opt_.recorders) recorder |= ri == viewers_[i].index;
    if (!recorder) live.push_back(i);
  }
  std::shuffle(live.begin(), live.end(), rng_);
  size_t n = size_t(fraction * double(live.size()) + 0.5);
  std::set<std::string> killed;
  for (size_t k = 0; k < n; ++k) {
    auto& v = viewers_[live[k]];
    killed.insert(v.session->id());
    v.session->stop(false);
    v.alive = false;
    v.left_at_s = elapsed_s();
  }
  // Survivors that lost a partner are watched until they are back to their count.
  int64_t now = g_get_monotonic_time();
  for (auto& v : viewers_) {
    if (!v.alive || !v.session->peer()) continue;
    size_t before = 0;
    bool lost = false;
    for (auto& p : v.session->peer()->partners()) {
      if (!p.connected) continue;
      ++before;
      lost |= killed.count(p.id) > 0;
    }
    if (lost) recovering_.push_back({v.index, before, now});
  }
  return int(n);
}

void Swarm::stop() {
  if (tick_source_) g_source_remove(tick_source_);
  tick_source_ = 0;
  for (auto& v : viewers_)
    if (v.alive) v.session->stop(true);
  if (broadcaster_) broadcaster_->stop();
}

nlohmann::json Swarm::summary() const {
  std::vector<double> startup, lag, hops;
  uint64_t played = 0, missed = 0, forged = 0, dup = 0, media_rx = 0, ctrl_tx = 0, media_tx = 0,
           forged_rejected = 0;
  int playing = 0;
  for (auto& v : viewers_) {
    const auto& m = v.session->metrics();
    if (m.first_play_us >= 0) {
      startup.push_back(m.startup_ms());
      ++playing;
    }
    lag.insert(lag.end(), m.lag_ms.begin(), m.lag_ms.end());
    hops.insert(hops.end(), m.hops.begin(), m.hops.end());
    if (!v.malicious) {
      played += m.played;
      missed += m.missed;
    }
    forged += m.forged_played;
    if (auto* p = const_cast<ViewerSession&>(*v.session).peer()) {
      const auto& s = p->stats();
      dup += s.duplicate_bytes_received;
      media_rx += s.media_bytes_received;
      ctrl_tx += s.control_bytes_sent;
      media_tx += s.media_bytes_sent;
      forged_rejected += s.forged_rejected;
    }
  }
  double copies = broadcaster_ ? broadcaster_->upload_copies() : 0;
  if (broadcaster_ && const_cast<BroadcastSession&>(*broadcaster_).peer()) {
    const auto& s = const_cast<BroadcastSession&>(*broadcaster_).peer()->stats();
    ctrl_tx += s.control_bytes_sent;
    media_tx += s.media_bytes_sent;
  }
  double cpu = cpu_seconds(), rss = peak_rss_mb();
  int n = std::max(1, opt_.viewers);
  nlohmann::json j;
  j["viewers"] = opt_.viewers;
  j["viewers_total"] = viewers_.size();
  j["viewers_playing"] = playing;
  j["duration_s"] = opt_.duration_s;
  j["bitrate_kbps"] = opt_.bitrate_kbps;
  j["churn_per_min"] = opt_.churn_per_min;
  j["loss"] = opt_.loss;
  j["startup_ms"] = dist(startup);
  j["lag_ms"] = dist(lag);
  j["hops"] = dist(hops);
  j["continuity"] = played + missed ? double(played) / double(played + missed) : 0.0;
  j["source_upload_copies"] = copies;
  j["control_overhead"] = media_tx ? double(ctrl_tx) / double(media_tx) : 0.0;
  j["duplicate_ratio"] = media_rx ? double(dup) / double(media_rx) : 0.0;
  j["forged_played"] = forged;
  j["forged_rejected"] = forged_rejected;
  j["peak_rss_mb"] = rss;
  j["cpu_s"] = cpu;
  j["cpu_s_per_viewer"] = cpu / n;
  j["rss_mb_per_viewer"] = rss / n;
  if (!recovery_ms_.empty()) j["partner_recovery_ms"] = dist(recovery_ms_);
  if (g_getenv("MESHCAST_DEBUG")) {
    for (auto& v : viewers_) {
      if (!v.alive || v.session->metrics().played > 20) continue;
      auto* p = const_cast<ViewerSession&>(*v.session).peer();
      if (!p) continue;
      nlohmann::json d;
      d["id"] = v.session->id();
      d["played"] = v.session->metrics().played;
      d["core_partners"] = p->core().partner_count();
      d["links_opened"] = p->counters().links_opened;
      d["links_failed"] = p->counters().links_failed;
      int connected = 0, pending = 0;
      for (auto& pi : p->partners()) (pi.connected ? connected : pending)++;
      d["connected"] = connected;
      d["pending"] = pending;
      d["requests"] = p->stats().requests_sent;
      d["rx"] = p->stats().media_bytes_received;
      j["debug_stuck"].push_back(d);
    }
  }
  return j;
}

std::string Swarm::status_line() const {
  int alive = 0, playing = 0;
  uint64_t played = 0, missed = 0;
  std::vector<double> lags;
  for (auto& v : viewers_) {
    if (!v.alive) continue;
    ++alive;
    const auto& m = v.session->metrics();
    playing += m.played > 0;
    played += m.played;
    missed += m.missed;
    if (!m.lag_ms.empty()) lags.push_back(m.lag_ms.back());
  }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "swarm %.0fs | viewers %d (playing %d) | lag p50 %.0f ms p95 %.0f ms | continuity "
                "%.2f%% | source %.2f copies",
                elapsed_s(), alive, playing, percentile(lags, 0.5), percentile(lags, 0.95),
                played + missed ? 100.0 * played / (played + missed) : 0.0,
                broadcaster_ ? broadcaster_->upload_copies() : 0.0);
  return buf;
}

}  // namespace meshcast::app
