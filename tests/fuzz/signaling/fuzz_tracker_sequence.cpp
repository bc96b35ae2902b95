// libFuzzer target: the sans-IO tracker core driven by a sequence of events from several
// connections, the way TrackerServer drives it, with invariants checked after every step.
//
// The input is text, one event per line (readable seeds, and JSON mutations stay on one line):
//   <slot>o          open a new connection in slot 0-3 (slot = first byte % 4)
//   <slot>><frame>   text frame from the slot's connection (opened first if the slot is empty)
//   <slot>b          binary frame
//   <slot>c          the connection closes
//   <slot>t<ms>      time advances by <ms> (decimal, at most 10^7), then the timer fires
//   <slot>v<text>    the HTTP views (stream list, overlay) with <text> as name, key and cursor
// In a frame, $CALL and $SECRET stand for the latest call id and stream secret the tracker sent
// (both random), so seeds can answer calls and use secrets.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;

namespace {

constexpr std::size_t kSlots = 4;
constexpr std::size_t kMaxEvents = 512;  // bounds the work per input
// MESHCAST_FUZZ_TRACE=1 prints every event and frame (for writing and checking seeds).
const bool kTrace = std::getenv("MESHCAST_FUZZ_TRACE") != nullptr;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  if (to.empty()) return;
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// The latest value of `"field":"..."` in a frame the tracker sent. At most 64 characters (ids
// and secrets are shorter): a relayed payload can carry the same field name, and a long value
// substituted for every placeholder would make an input slow rather than interesting.
void remember(const std::string& frame, std::string_view field, std::string& into) {
  const std::string key = "\"" + std::string(field) + "\":\"";
  const std::size_t at = frame.find(key);
  if (at == std::string::npos) return;
  const std::size_t start = at + key.size();
  const std::size_t end = frame.find('"', start);
  if (end != std::string::npos && end - start <= 64) into = frame.substr(start, end - start);
}

class Harness {
 public:
  void event(char op, std::size_t slot, std::string_view arg) {
    if (kTrace)
      std::fprintf(stderr, "slot %zu %c %.*s\n", slot, op, static_cast<int>(arg.size()),
                   arg.data());
    CoreOutput out;
    switch (op) {
      case 'o':
        if (conn_[slot] != 0) close(slot, out);
        open(slot);
        break;
      case '>': {
        if (conn_[slot] == 0) open(slot);
        std::string frame(arg);
        replace_all(frame, "$CALL", call_id_);
        replace_all(frame, "$SECRET", secret_);
        core_.on_text(conn_[slot], frame, now_, out);
        break;
      }
      case 'b':
        if (conn_[slot] != 0) core_.on_binary(conn_[slot], now_, out);
        break;
      case 'c':
        if (conn_[slot] != 0) close(slot, out);
        break;
      case 't': {
        int64_t ms = 0;
        for (char ch : arg.substr(0, 7))
          if (ch >= '0' && ch <= '9') ms = ms * 10 + (ch - '0');
        now_ += meshcast::ms_to_us(ms);
        core_.on_timer(now_, out);
        break;
      }
      case 'v': {
        const auto list = core_.api_streams(arg, arg, 3);
        check(list.is_object() && list["streams"].size() <= 3);
        (void)core_.api_overlay(arg, arg, arg, 2);
        break;
      }
      default:
        return;
    }
    deliver(out);
    invariants();
  }

  // Every connection goes away: nothing may outlive its peers.
  void finish() {
    for (std::size_t s = 0; s < kSlots; ++s) {
      if (conn_[s] == 0) continue;
      CoreOutput out;
      close(s, out);
      deliver(out);  // before the next close: these frames go to connections still open
    }
    // Closed peers stay resumable for the grace; after it nothing of them may be left.
    CoreOutput out;
    now_ += meshcast::ms_to_us(TrackerConfig{}.resume_grace_ms + 1);
    core_.on_timer(now_, out);
    deliver(out);
    check(core_.connection_count() == 0 && core_.peer_count() == 0);
    check(core_.stream_count() == 0 && core_.call_count() == 0);
    check(!core_.next_deadline().has_value());  // no timer left for a gone connection or call
  }

 private:
  void open(std::size_t slot) {
    conn_[slot] = next_conn_++;  // the server never reuses a connection id
    open_.insert(conn_[slot]);
    CoreOutput out;
    core_.on_open(conn_[slot], now_, out);  // the welcome (identity nonce)
    deliver(out);
  }

  void close(std::size_t slot, CoreOutput& out) {
    open_.erase(conn_[slot]);
    core_.on_close(conn_[slot], now_, out);
    conn_[slot] = 0;
  }

  // What the server does with the output: send the frames, then close what the core asked to
  // (which may send more frames to the peers still connected).
  void deliver(const CoreOutput& out) {
    for (const auto& [conn, frame] : out.send) {
      if (kTrace)
        std::fprintf(stderr, "  -> conn %llu: %s\n", (unsigned long long)conn, frame.c_str());
      check(open_.count(conn) == 1);  // never a frame for a closed or unknown connection
      const auto j = nlohmann::json::parse(frame, nullptr, false);
      check(j.is_object() && j.contains("type") && j["type"].is_string());
      remember(frame, "call_id", call_id_);
      remember(frame, "secret", secret_);
    }
    for (ConnId conn : out.close) {
      for (std::size_t s = 0; s < kSlots; ++s) {
        if (conn_[s] != conn) continue;
        CoreOutput more;
        close(s, more);
        deliver(more);  // recursion ends: every level closes one more slot
      }
    }
  }

  void invariants() const {
    check(core_.connection_count() == open_.size());
    // Every peer is on an open connection or detached (resumable) within the grace.
    check(core_.detached_count() <= core_.peer_count());
    check(core_.peer_count() - core_.detached_count() <= core_.connection_count());
    // Each stream has a live owner and each call two live peers, within the per-peer caps.
    const TrackerConfig c;
    check(core_.stream_count() <= core_.peer_count() * c.max_streams_per_peer);
    check(core_.call_count() * 2 <= core_.peer_count() * c.max_calls_per_peer);
    // No member slot outlived its peer's bookkeeping (StreamMembers' links).
    check(core_.member_link_repairs() == 0);
  }

  // A window of 2 members: with four connections the rotating window (and its slot moves
  // under the cursor as members leave) is what joins use, not the whole-audience path.
  static TrackerConfig config() {
    TrackerConfig c;
    c.neighbour_scan_limit = 2;
    return c;
  }
  TrackerCore core_{config()};
  std::array<ConnId, kSlots> conn_{};
  std::set<ConnId> open_;
  ConnId next_conn_ = 1;
  meshcast::TimeUs now_ = 0;  // the events' ms, in the core's unit
  std::string call_id_, secret_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Harness h;
  for (std::size_t n = 0; n < kMaxEvents && !in.empty(); ++n) {
    const std::size_t eol = std::min(in.find('\n'), in.size());
    const std::string_view line = in.substr(0, eol);
    in.remove_prefix(std::min(eol + 1, in.size()));
    if (line.size() < 2) continue;
    h.event(line[1], static_cast<unsigned char>(line[0]) % kSlots, line.substr(2));
  }
  h.finish();
  return 0;
}
