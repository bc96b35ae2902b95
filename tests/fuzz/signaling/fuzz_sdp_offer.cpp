// libFuzzer target: one WHIP/WHEP HTTP body, read both as an SDP offer and as a trickle-ICE
// fragment. Accepted offers stay within every limit and pass the WebRTC checks; find_codec
// only returns codecs of the m-line with the name asked for; filtering candidates never breaks
// an accepted offer; every refusal says why, briefly.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sdp_offer.hpp"

using namespace meshcast::signaling;

namespace {

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void check_error(const std::string& e) {
  if (e.empty() || e.size() > 256) __builtin_trap();
}

void check_codecs(const SdpMedia& m) {
  static const char* const kNames[] = {"H264", "h264", "opus", "VP8", "VP9", "AV1", "PCMU"};
  static const char* const kProfiles[] = {"", "42e01f", "64", "4d", "f4", "x"};
  std::vector<std::string_view> names(std::begin(kNames), std::end(kNames));
  for (const SdpCodec& c : m.codecs) names.push_back(c.name);
  for (std::string_view name : names) {
    for (std::string_view profile : kProfiles) {
      auto c = find_codec(m, name, profile);
      if (!c) {
        // Only H264 may be refused when the m-line has that name.
        if (!same_name(name, "H264"))
          for (const SdpCodec& x : m.codecs)
            if (same_name(x.name, name)) __builtin_trap();
        continue;
      }
      if (!same_name(c->name, name)) __builtin_trap();
      bool found = false;
      for (const SdpCodec& x : m.codecs) found = found || x.pt == c->pt;
      if (!found) __builtin_trap();
    }
  }
}

void check_offer(const SdpOffer& o, std::string_view text) {
  if (o.media.empty() || o.media.size() > kMaxSdpMedia) __builtin_trap();
  if (o.bundle_mids.size() > kMaxSdpMedia) __builtin_trap();
  if (!validate_webrtc_offer(o)) __builtin_trap();
  std::vector<std::string> addresses;
  size_t candidates = 0;
  for (const SdpMedia& m : o.media) {
    if (m.codecs.size() > kMaxSdpCodecs || m.candidates.size() > kMaxSdpCandidates)
      __builtin_trap();
    if (m.port < 0 || m.port > 65535) __builtin_trap();
    if (m.direction != "sendrecv" && m.direction != "sendonly" && m.direction != "recvonly" &&
        m.direction != "inactive")
      __builtin_trap();
    bool seen[128] = {};
    for (const SdpCodec& c : m.codecs) {
      if (c.pt < 0 || c.pt > 127 || seen[c.pt]) __builtin_trap();
      seen[c.pt] = true;
      if (c.clock_rate < 0 || c.clock_rate > 10'000'000 || c.channels < 0 || c.channels > 16)
        __builtin_trap();
      if (c.rtcp_fb.size() > kMaxSdpRtcpFbPerCodec) __builtin_trap();
    }
    for (const std::string& cand : m.candidates) {
      std::string a = candidate_address(cand);
      if (a.empty()) __builtin_trap();
      addresses.push_back(std::move(a));
    }
    candidates += m.candidates.size();
    check_codecs(m);
  }
  // Keeping every address keeps every candidate; keeping none keeps the rest valid.
  std::string all = filter_candidates(text, addresses);
  if (all.size() <= kMaxSdpBytes) {
    auto again = parse_sdp_offer(all);
    if (!again || again->media.size() != o.media.size()) __builtin_trap();
    size_t n = 0;
    for (const SdpMedia& m : again->media) n += m.candidates.size();
    if (n != candidates) __builtin_trap();
  }
  std::string none = filter_candidates(text, {});
  if (none.size() <= kMaxSdpBytes) {
    auto again = parse_sdp_offer(none);
    if (!again || again->media.size() != o.media.size()) __builtin_trap();
    for (const SdpMedia& m : again->media)
      if (!m.candidates.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto o = parse_sdp_offer(text)) {
    check_offer(*o, text);
  } else {
    check_error(o.error());
    // Refused bodies still go through the filter (it is a plain text transform).
    std::string f = filter_candidates(text, {"127.0.0.1"});
    if (f.size() > 2 * text.size() + 2) __builtin_trap();
  }
  if (auto t = parse_trickle_fragment(text)) {
    if (t->candidates.size() > (kMaxSdpMedia + 1) * kMaxSdpCandidates) __builtin_trap();
    for (const auto& c : t->candidates)
      if (candidate_address(c.candidate).empty()) __builtin_trap();
  } else {
    check_error(t.error());
  }
  return 0;
}
