#include "apps/session/swarm.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "apps/session/session_common.hpp"
#include "mesh/base/time.hpp"

namespace meshcast::app {

namespace {
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
  tick_source_.reset();
  for (auto& w : workers_) {
    w->child_watch.reset();
    if (w->pid) kill(w->pid, SIGKILL);
    w->watch.reset();
    w->ch.reset();
  }
  viewers_.clear();
  graveyard_.clear();
  broadcaster_.reset();
  tracker_.reset();
}

double Swarm::elapsed_s() const { return (meshcast::monotonic_us() - start_us_) / 1e6; }

Expected<void, std::string> Swarm::start() {
  start_us_ = meshcast::monotonic_us();
  cert_ = link::Certificate::process_default();
  if (!cert_) return unexpected("cannot create the DTLS certificate");
  if (!opt_.tracker_url.empty()) {  // worker: viewers only
    joined_ = opt_.first_index;
    tick_source_ = media::SourceGuard::timeout(100, &Swarm::on_tick, this);
    return {};
  }
  signaling::TrackerServerOptions to;
  to.port = opt_.tracker_port;
  to.log_level = signaling::LogLevel::kError;
  // Every viewer of the swarm shares this process: the per-connection limits still apply.
  tracker_ = std::make_unique<signaling::TrackerServer>(to);
  if (auto started = tracker_->start(); !started) return unexpected(std::move(started).error());

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
  tick_source_ = media::SourceGuard::timeout(100, &Swarm::on_tick, this);
  return {};
}

void Swarm::add_viewer(bool malicious, bool sybil, std::optional<media::PlayerConfig> player) {
  SwarmViewer v;
  v.index = joined_++;
  v.malicious = malicious;
  v.sybil = sybil;
  v.joined_at_s = elapsed_s();
  ViewerOptions vo;
  vo.tracker_url = tracker_ ? tracker_->ws_url() : opt_.tracker_url;
  vo.stream = opt_.stream;
  vo.view_key = opt_.view_key;
  // Replacements (churn) get ids no other worker can pick.
  vo.peer_id = v.index < opt_.first_index + opt_.viewers
                   ? "v" + std::to_string(v.index)
                   : "r" + std::to_string(opt_.first_index) + "-" + std::to_string(v.index);
  vo.max_upload_kbps = opt_.max_upload_kbps;
  vo.player = std::move(player);
  vo.tamper_relayed = malicious;
  vo.sybil = sybil;
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
  bool worker = !opt_.tracker_url.empty();
  if (!worker && (!broadcaster_ || !broadcaster_->live())) return;
  if (opt_.workers > 0 && !worker) {
    if (!workers_spawned_) spawn_workers();
    return;
  }
  double t = elapsed_s();
  if (opt_.kill_at_s >= 0 && !killed_ && t >= opt_.kill_at_s) {
    killed_ = true;
    kill_fraction(opt_.kill_fraction);
  }
  int target = opt_.first_index + opt_.viewers;
  // Initial joins, spread evenly over join_spread_s once the stream is live.
  while (joined_ < target) {
    int k = joined_ - opt_.first_index;
    double due = opt_.viewers <= 1 ? 0 : opt_.join_spread_s * k / (opt_.viewers - 1);
    if (!viewers_.empty() && t - viewers_.front().joined_at_s < due) break;
    int idx = joined_;
    std::optional<media::PlayerConfig> player;
    for (auto& [i, pc] : opt_.recorders)
      if (i == idx) player = pc;
    bool bad = std::find(opt_.tamperers.begin(), opt_.tamperers.end(), idx) != opt_.tamperers.end();
    bool sybil = std::find(opt_.sybils.begin(), opt_.sybils.end(), idx) != opt_.sybils.end();
    add_viewer(bad, sybil, player);
  }
  // Churn: kill a random live honest viewer and let a new one join in its place.
  if (opt_.churn_per_min > 0 && joined_ >= target) {
    churn_credit_ += opt_.churn_per_min / 600.0;  // per 100 ms tick
    while (churn_credit_ >= 1) {
      churn_credit_ -= 1;
      std::vector<size_t> live;
      for (size_t i = 0; i < viewers_.size(); ++i)
        if (viewers_[i].alive && !viewers_[i].malicious && !viewers_[i].sybil &&
            viewers_[i].session->metrics().played)
          live.push_back(i);
      if (live.empty()) break;
      auto& v = viewers_[live[rng_() % live.size()]];
      v.session->stop(false);
      v.alive = false;
      v.left_at_s = t;
      add_viewer(false, false, std::nullopt);
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
      recovery_ms_.push_back((meshcast::monotonic_us() - it->since_us) / 1e3);
      it = recovering_.erase(it);
    } else {
      ++it;
    }
  }
}

int Swarm::kill_fraction(double fraction) {
  std::vector<size_t> live;
  for (size_t i = 0; i < viewers_.size(); ++i) {
    if (!viewers_[i].alive || viewers_[i].malicious || viewers_[i].sybil) continue;
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
  int64_t now = meshcast::monotonic_us();
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
  tick_source_.reset();
  for (auto& v : viewers_)
    if (v.alive) v.session->stop(true);
  if (broadcaster_) broadcaster_->stop();
}

nlohmann::json SwarmTally::to_json() const {
  return {{"startup", startup},
          {"lag", lag},
          {"sybil_lag", sybil_lag},
          {"sybil_played", sybil_played},
          {"sybil_missed", sybil_missed},
          {"sybils", sybils},
          {"hops", hops},
          {"recovery", recovery},
          {"played", played},
          {"missed", missed},
          {"missed_unavailable", missed_unavailable},
          {"stalls", stalls},
          {"forged", forged},
          {"dup", dup},
          {"media_rx", media_rx},
          {"ctrl_tx", ctrl_tx},
          {"media_tx", media_tx},
          {"forged_rejected", forged_rejected},
          {"viewers_total", viewers_total},
          {"playing", playing},
          {"cpu_s", cpu_s},
          {"rss_mb", rss_mb}};
}

SwarmTally SwarmTally::from_json(const nlohmann::json& j) {
  SwarmTally t;
  auto vec = [&](const char* k, std::vector<double>& v) {
    if (j.contains(k) && j[k].is_array())
      for (auto& x : j[k])
        if (x.is_number()) v.push_back(x.get<double>());
  };
  vec("startup", t.startup);
  vec("lag", t.lag);
  vec("sybil_lag", t.sybil_lag);
  t.sybil_played = j.value("sybil_played", uint64_t(0));
  t.sybil_missed = j.value("sybil_missed", uint64_t(0));
  t.sybils = j.value("sybils", 0);
  vec("hops", t.hops);
  vec("recovery", t.recovery);
  auto u = [&](const char* k) { return j.value(k, uint64_t(0)); };
  t.played = u("played");
  t.missed = u("missed");
  t.missed_unavailable = u("missed_unavailable");
  t.stalls = u("stalls");
  t.forged = u("forged");
  t.dup = u("dup");
  t.media_rx = u("media_rx");
  t.ctrl_tx = u("ctrl_tx");
  t.media_tx = u("media_tx");
  t.forged_rejected = u("forged_rejected");
  t.viewers_total = j.value("viewers_total", 0);
  t.playing = j.value("playing", 0);
  t.cpu_s = j.value("cpu_s", 0.0);
  t.rss_mb = j.value("rss_mb", 0.0);
  return t;
}

void SwarmTally::merge(const SwarmTally& o) {
  startup.insert(startup.end(), o.startup.begin(), o.startup.end());
  lag.insert(lag.end(), o.lag.begin(), o.lag.end());
  sybil_lag.insert(sybil_lag.end(), o.sybil_lag.begin(), o.sybil_lag.end());
  sybil_played += o.sybil_played;
  sybil_missed += o.sybil_missed;
  sybils += o.sybils;
  hops.insert(hops.end(), o.hops.begin(), o.hops.end());
  recovery.insert(recovery.end(), o.recovery.begin(), o.recovery.end());
  played += o.played;
  missed += o.missed;
  missed_unavailable += o.missed_unavailable;
  stalls += o.stalls;
  forged += o.forged;
  dup += o.dup;
  media_rx += o.media_rx;
  ctrl_tx += o.ctrl_tx;
  media_tx += o.media_tx;
  forged_rejected += o.forged_rejected;
  viewers_total += o.viewers_total;
  playing += o.playing;
  cpu_s += o.cpu_s;
  rss_mb += o.rss_mb;
}

SwarmTally Swarm::tally() const {
  SwarmTally t;
  for (auto& v : viewers_) {
    const auto& m = v.session->metrics();
    if (m.first_play_us >= 0) {
      t.startup.push_back(m.startup_ms());
      ++t.playing;
    }
    if (v.sybil) {
      ++t.sybils;
      t.sybil_lag.insert(t.sybil_lag.end(), m.lag_ms.values().begin(), m.lag_ms.values().end());
      t.sybil_played += m.played;
      t.sybil_missed += m.missed;
    } else {
      t.lag.insert(t.lag.end(), m.lag_ms.values().begin(), m.lag_ms.values().end());
      t.hops.insert(t.hops.end(), m.hops.values().begin(), m.hops.values().end());
    }
    if (!v.malicious && !v.sybil) {
      t.played += m.played;
      t.missed += m.missed;
    }
    t.forged += m.forged_played;
    if (auto* p = const_cast<ViewerSession&>(*v.session).peer()) {
      const auto& st = p->stats();
      t.dup += st.duplicate_bytes_received;
      t.media_rx += st.media_bytes_received;
      t.ctrl_tx += st.control_bytes_sent;
      t.media_tx += st.media_bytes_sent;
      t.forged_rejected += st.forged_rejected;
      if (!v.malicious && !v.sybil) {
        t.missed_unavailable += st.missed_unavailable;
        t.stalls += st.stalls;
      }
    }
  }
  t.recovery = recovery_ms_;
  t.viewers_total = int(viewers_.size());
  t.cpu_s = cpu_seconds();
  t.rss_mb = peak_rss_mb();
  return t;
}

nlohmann::json Swarm::summary() const {
  SwarmTally t = tally();
  if (opt_.workers > 0) {
    // This process ran the tracker and broadcaster only; viewers are in the workers.
    t.viewers_total = 0;
    t.merge(worker_tally_);
  }
  double copies = broadcaster_ ? broadcaster_->upload_copies() : 0;
  if (broadcaster_ && const_cast<BroadcastSession&>(*broadcaster_).peer()) {
    const auto& st = const_cast<BroadcastSession&>(*broadcaster_).peer()->stats();
    t.ctrl_tx += st.control_bytes_sent;
    t.media_tx += st.media_bytes_sent;
  }
  int n = std::max(1, opt_.viewers);
  nlohmann::json j;
  j["viewers"] = opt_.viewers;
  j["viewers_total"] = t.viewers_total;
  j["viewers_playing"] = t.playing;
  j["workers"] = opt_.workers;
  j["duration_s"] = opt_.duration_s;
  j["bitrate_kbps"] = opt_.bitrate_kbps;
  j["churn_per_min"] = opt_.churn_per_min;
  j["loss"] = opt_.loss;
  j["startup_ms"] = dist(t.startup);
  j["lag_ms"] = dist(t.lag);
  j["hops"] = dist(t.hops);
  j["continuity"] = t.played + t.missed ? double(t.played) / double(t.played + t.missed) : 0.0;
  // Skipped segments nobody could send (no parent, request or holder) vs. ones that came
  // too late, and playout stalls: where continuity is lost.
  j["missed"] = t.missed;
  j["missed_unavailable"] = t.missed_unavailable;
  j["stalls"] = t.stalls;
  j["source_upload_copies"] = copies;
  j["control_overhead"] = t.media_tx ? double(t.ctrl_tx) / double(t.media_tx) : 0.0;
  j["duplicate_ratio"] = t.media_rx ? double(t.dup) / double(t.media_rx) : 0.0;
  j["forged_played"] = t.forged;
  j["forged_rejected"] = t.forged_rejected;
  j["peak_rss_mb"] = t.rss_mb;
  j["cpu_s"] = t.cpu_s;
  j["cpu_s_per_viewer"] = t.cpu_s / n;
  j["rss_mb_per_viewer"] = t.rss_mb / n;
  if (!t.recovery.empty()) j["partner_recovery_ms"] = dist(t.recovery);
  if (t.sybils > 0) {
    // continuity and lag_ms above are the honest viewers'; the sybils' own are here.
    j["sybils"] = {
        {"count", t.sybils},
        {"continuity", t.sybil_played + t.sybil_missed
                           ? double(t.sybil_played) / double(t.sybil_played + t.sybil_missed)
                           : 0.0},
        {"lag_ms", dist(t.sybil_lag)}};
  }
  if (g_getenv("MESHCAST_DEBUG")) {
    for (auto& v : viewers_) {
      if (!v.alive || v.session->metrics().played > 20) continue;
      auto* p = const_cast<ViewerSession&>(*v.session).peer();
      if (!p) continue;
      int connected = 0, pending = 0;
      for (auto& pi : p->partners()) (pi.connected ? connected : pending)++;
      j["debug_stuck"].push_back({{"id", v.session->id()},
                                  {"played", v.session->metrics().played},
                                  {"connected", connected},
                                  {"pending", pending},
                                  {"links_failed", p->counters().links_failed}});
    }
  }
  return j;
}

void Swarm::spawn_workers() {
  workers_spawned_ = true;
  std::string exe = opt_.worker_exe;
  if (exe.empty()) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
      fatal_ = "cannot find the meshcast binary for the swarm workers";
      return;
    }
    exe.assign(buf, size_t(n));
  }
  double remaining = std::max(1.0, opt_.duration_s - elapsed_s());
  int w = opt_.workers;
  for (int i = 0; i < w; ++i) {
    int first = opt_.viewers * i / w, count = opt_.viewers * (i + 1) / w - first;
    if (count <= 0) continue;
    std::vector<std::string> args = {exe,
                                     "swarm-worker",
                                     "--tracker",
                                     tracker_->ws_url(),
                                     "--stream",
                                     opt_.stream,
                                     "--first",
                                     std::to_string(first),
                                     "--count",
                                     std::to_string(count),
                                     "--duration",
                                     std::to_string(remaining),
                                     "--join-spread",
                                     std::to_string(opt_.join_spread_s),
                                     "--seed",
                                     std::to_string(opt_.seed + uint64_t(i))};
    if (opt_.churn_per_min > 0)
      args.insert(args.end(),
                  {"--churn", std::to_string(opt_.churn_per_min * count / opt_.viewers)});
    if (opt_.loss > 0) args.insert(args.end(), {"--loss", std::to_string(opt_.loss)});
    if (opt_.max_upload_kbps > 0)
      args.insert(args.end(), {"--max-upload", std::to_string(opt_.max_upload_kbps)});
    if (!opt_.view_key.empty()) args.insert(args.end(), {"--view-key", opt_.view_key});
    if (opt_.kill_at_s >= 0)
      args.insert(args.end(),
                  {"--kill-at", std::to_string(std::max(0.0, opt_.kill_at_s - elapsed_s())) + ":" +
                                    std::to_string(opt_.kill_fraction)});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto wk = std::make_unique<Worker>();
    wk->owner = this;
    gint out_fd = -1;
    media::GErrorPtr err;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, nullptr,
                                  nullptr, &wk->pid, nullptr, &out_fd, nullptr,
                                  media::out_ptr(err))) {
      fatal_ = std::string("cannot start a swarm worker: ") + (err ? err->message : "?");
      return;
    }
    wk->ch.reset(g_io_channel_unix_new(out_fd));
    g_io_channel_set_close_on_unref(wk->ch.get(), TRUE);
    g_io_channel_set_encoding(wk->ch.get(), nullptr, nullptr);
    g_io_channel_set_flags(wk->ch.get(), G_IO_FLAG_NONBLOCK, nullptr);
    GIOFunc on_output = [](GIOChannel* ch, GIOCondition, gpointer p) -> gboolean {
      auto* w = static_cast<Worker*>(p);
      char buf[65536];
      gsize got = 0;
      GIOStatus st;
      while ((st = g_io_channel_read_chars(ch, buf, sizeof buf, &got, nullptr)) ==
                 G_IO_STATUS_NORMAL &&
             got > 0)
        w->out.append(buf, got);
      if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR) {
        w->watch.reset();  // it ends itself
        return G_SOURCE_REMOVE;
      }
      return G_SOURCE_CONTINUE;
    };
    wk->watch = media::SourceGuard::with_callback(
        g_io_create_watch(wk->ch.get(), GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR)),
        media::source_func(on_output), wk.get());
    GChildWatchFunc on_exit = [](GPid pid, gint status, gpointer p) {
      auto* w = static_cast<Worker*>(p);
      g_spawn_close_pid(pid);
      // Drain whatever is left on the pipe.
      char buf[65536];
      gsize got = 0;
      while (w->ch &&
             g_io_channel_read_chars(w->ch.get(), buf, sizeof buf, &got, nullptr) ==
                 G_IO_STATUS_NORMAL &&
             got > 0)
        w->out.append(buf, got);
      Swarm* self = w->owner;
      auto pos = w->out.rfind("\n{");
      std::string line = pos == std::string::npos ? w->out : w->out.substr(pos + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object())
        self->worker_tally_.merge(SwarmTally::from_json(j));
      else if (self->fatal_.empty())
        self->fatal_ =
            "a swarm worker exited (status " + std::to_string(status) + ") without a result";
      w->pid = 0;
      w->child_watch.reset();  // a child watch fires once
      --self->workers_left_;
    };
    wk->child_watch = media::SourceGuard::with_callback(g_child_watch_source_new(wk->pid),
                                                        media::source_func(on_exit), wk.get());
    ++workers_left_;
    workers_.push_back(std::move(wk));
  }
}
nlohmann::json Swarm::status_json() const {
  int alive = 0, playing = 0;
  uint64_t played = 0, missed = 0;
  std::vector<double> lags;
  for (auto& v : viewers_) {
    if (!v.alive) continue;
    ++alive;
    const auto& m = v.session->metrics();
    playing += m.played > 0;
    if (v.sybil) continue;  // the live figures are the honest viewers'
    played += m.played;
    missed += m.missed;
    if (!m.lag_ms.empty()) lags.push_back(m.lag_ms.back());
  }
  return {{"t", g_get_real_time() / 1e6},
          {"elapsed_s", elapsed_s()},
          {"viewers", opt_.workers > 0 ? opt_.viewers : alive},
          {"playing", playing},
          {"lag_ms", {{"p50", percentile(lags, 0.5)}, {"p95", percentile(lags, 0.95)}}},
          {"continuity", played + missed ? double(played) / double(played + missed) : 0.0},
          {"source_upload_copies", broadcaster_ ? broadcaster_->upload_copies() : 0.0}};
}

std::string Swarm::status_line() const {
  if (opt_.workers > 0) {
    char wb[160];
    std::snprintf(wb, sizeof wb,
                  "swarm %.0fs | %d viewers in %d worker processes | source %.2f copies",
                  elapsed_s(), opt_.viewers, workers_left_,
                  broadcaster_ ? broadcaster_->upload_copies() : 0.0);
    return wb;
  }
  auto j = status_json();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "swarm %.0fs | viewers %d (playing %d) | lag p50 %.0f ms p95 %.0f ms | continuity "
                "%.2f%% | source %.2f copies",
                elapsed_s(), j["viewers"].get<int>(), j["playing"].get<int>(),
                j["lag_ms"]["p50"].get<double>(), j["lag_ms"]["p95"].get<double>(),
                100 * j["continuity"].get<double>(), j["source_upload_copies"].get<double>());
  return buf;
}

}  // namespace meshcast::app
