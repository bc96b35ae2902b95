#include "signaling/sdp_offer.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>

namespace meshcast::signaling {

namespace {

using Error = Unexpected<std::string>;

Error fail(std::string why) { return Unexpected<std::string>(std::move(why)); }
Error fail_at(size_t line, std::string_view why) {
  return fail("line " + std::to_string(line) + ": " + std::string(why));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}
bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 8866 token-char: printable ASCII except space and a few separators.
bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x27) || u == 0x2A || u == 0x2B || u == 0x2D ||
         u == 0x2E || (u >= 0x30 && u <= 0x39) || (u >= 0x41 && u <= 0x5A) ||
         (u >= 0x5E && u <= 0x7E);
}
bool is_token(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}
// Visible ASCII, for protocol names ("UDP/TLS/RTP/SAVPF" has '/', not a token-char).
bool is_visible(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}
// RFC 8839 ice-char.
bool is_ice_chars(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/')) return false;
  return true;
}

// Plain decimal (no sign, no spaces), a few digits at most so it cannot overflow.
std::optional<int> parse_int(std::string_view s, int lo, int hi) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// Next space-separated token of `s` (runs of spaces count as one), "" at the end.
std::string_view next_token(std::string_view& s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(b);
  size_t e = s.find(' ');
  std::string_view t = s.substr(0, e);
  s.remove_prefix(e == std::string_view::npos ? s.size() : e);
  return t;
}

// Splits on LF (an optional CR before it belongs to the ending); counts lines.
struct Lines {
  std::string_view rest;
  size_t number = 0;

  bool next(std::string_view& line) {
    if (rest.empty()) return false;
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      line = rest;
      rest = {};
    } else {
      line = rest.substr(0, nl);
      rest.remove_prefix(nl + 1);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    return true;
  }
};

// Checks shared by offers and fragments. On success `line` is trimmed of trailing blanks.
std::optional<Error> check_line(const Lines& lines, std::string_view& line) {
  if (lines.number > kMaxSdpLines)
    return fail("more than " + std::to_string(kMaxSdpLines) + " lines");
  if (line.size() > kMaxSdpLineBytes)
    return fail_at(lines.number, "longer than " + std::to_string(kMaxSdpLineBytes) + " bytes");
  if (line.find('\0') != std::string_view::npos) return fail_at(lines.number, "NUL byte");
  if (line.find('\r') != std::string_view::npos) return fail_at(lines.number, "stray CR");
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;  // blank lines (often a trailing one) are tolerated
  if (line.size() < 2 || !is_alpha(line[0]) || line[1] != '=')
    return fail_at(lines.number, "expected <letter>=<value>");
  return std::nullopt;
}

std::optional<Error> check_size(std::string_view text) {
  if (text.size() > kMaxSdpBytes)
    return fail("body larger than " + std::to_string(kMaxSdpBytes) + " bytes");
  if (text.empty()) return fail("empty body");
  return std::nullopt;
}

// "a=name:value" or "a=name" (value "").
void split_attribute(std::string_view line, std::string_view& name, std::string_view& value) {
  std::string_view a = line.substr(2);
  size_t colon = a.find(':');
  name = a.substr(0, colon);
  value = colon == std::string_view::npos ? std::string_view{} : a.substr(colon + 1);
}

struct MLine {
  std::string_view kind, protocol;
  int port = 0;
  std::array<std::string_view, kMaxSdpCodecs> fmts;
  size_t fmt_count = 0;
};

// "m=<media> <port>[/<count>] <proto> <fmt> ...": the reason on failure.
std::optional<std::string_view> parse_m_line(std::string_view value, MLine& out) {
  out.kind = next_token(value);
  if (!is_token(out.kind, 32)) return "bad m= line: media type";
  std::string_view port = next_token(value);
  if (size_t slash = port.find('/'); slash != std::string_view::npos) {
    if (!parse_int(port.substr(slash + 1), 1, 65535)) return "bad m= line: port count";
    port = port.substr(0, slash);
  }
  auto p = parse_int(port, 0, 65535);
  if (!p) return "bad m= line: port";
  out.port = *p;
  out.protocol = next_token(value);
  if (!is_visible(out.protocol, 64)) return "bad m= line: protocol";
  for (std::string_view f = next_token(value); !f.empty(); f = next_token(value)) {
    if (out.fmt_count == kMaxSdpCodecs) return "bad m= line: more than 64 formats";
    if (!is_token(f, 64)) return "bad m= line: format";
    out.fmts[out.fmt_count++] = f;
  }
  if (out.fmt_count == 0) return "bad m= line: no formats";
  return std::nullopt;
}

struct StaticPt {
  int pt;
  const char* name;
  int clock;
  int channels;
};
// RFC 3551 table 4 (the audio ones WebRTC stacks still offer).
constexpr StaticPt kStaticPts[] = {{0, "PCMU", 8000, 1}, {3, "GSM", 8000, 1},  {4, "G723", 8000, 1},
                                   {8, "PCMA", 8000, 1}, {9, "G722", 8000, 1}, {13, "CN", 8000, 1},
                                   {18, "G729", 8000, 1}};

bool valid_fingerprint(std::string_view v) {
  std::string_view hash = next_token(v);
  std::string_view hex = next_token(v);
  if (!is_token(hash, 16) || !next_token(v).empty()) return false;
  // 2-hex-digit groups separated by ':', up to SHA-512's 64 bytes.
  if (hex.size() < 2 || hex.size() > 64 * 3 - 1 || (hex.size() + 1) % 3 != 0) return false;
  for (size_t i = 0; i < hex.size(); ++i) {
    if (i % 3 == 2 ? hex[i] != ':' : !is_hex(hex[i])) return false;
  }
  return true;
}

bool valid_direction(std::string_view name) {
  return name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive";
}

// Attributes valid at session and media level; a media section starts from the session's.
struct Level {
  std::string direction = "sendrecv";
  std::string ice_ufrag, ice_pwd, fingerprint, setup;
  bool end_of_candidates = false;
};
struct LevelSeen {
  bool direction = false, ufrag = false, pwd = false, fingerprint = false, setup = false;
};

// Handles a shared attribute: nullopt if it was one (or unknown), else the reason it is bad.
std::optional<std::string_view> apply_level_attribute(Level& lv, LevelSeen& seen,
                                                      std::string_view name,
                                                      std::string_view value) {
  if (valid_direction(name)) {
    if (seen.direction && lv.direction != name) return "conflicting direction attributes";
    seen.direction = true;
    lv.direction = std::string(name);
  } else if (name == "ice-ufrag") {
    if (seen.ufrag) return "duplicate ice-ufrag";
    if (!is_ice_chars(value, 4, 256)) return "bad ice-ufrag";
    seen.ufrag = true;
    lv.ice_ufrag = std::string(value);
  } else if (name == "ice-pwd") {
    if (seen.pwd) return "duplicate ice-pwd";
    if (!is_ice_chars(value, 22, 256)) return "bad ice-pwd";
    seen.pwd = true;
    lv.ice_pwd = std::string(value);
  } else if (name == "fingerprint") {
    if (!valid_fingerprint(value)) return "bad fingerprint";
    // Several are allowed (RFC 8122); the first at the most specific level is the one kept.
    if (!seen.fingerprint) lv.fingerprint = std::string(value);
    seen.fingerprint = true;
  } else if (name == "setup") {
    if (seen.setup) return "duplicate setup";
    if (value != "actpass" && value != "active" && value != "passive" && value != "holdconn")
      return "bad setup";
    seen.setup = true;
    lv.setup = std::string(value);
  } else if (name == "end-of-candidates") {
    lv.end_of_candidates = true;
  }
  return std::nullopt;
}

// One m-section while it is being read.
struct Section {
  SdpMedia media;
  Level level;
  LevelSeen seen;
  bool rtp = false;
  bool mid_seen = false;
  std::array<int8_t, 128> slot{};  // index in media.codecs by pt, -1 if not on the m-line
  std::bitset<128> rtpmap_seen, fmtp_seen;
};

void start_section(Section& s, const MLine& ml, const Level& session) {
  s.media = SdpMedia{};
  s.media.kind = std::string(ml.kind);
  s.media.port = ml.port;
  s.media.protocol = std::string(ml.protocol);
  s.level = session;
  s.seen = {};
  s.mid_seen = false;
  s.slot.fill(-1);
  s.rtpmap_seen.reset();
  s.fmtp_seen.reset();
  s.rtp = ml.protocol.find("RTP/") != std::string_view::npos;
}

void finish_section(Section& s, SdpOffer& offer) {
  s.media.direction = std::move(s.level.direction);
  s.media.ice_ufrag = std::move(s.level.ice_ufrag);
  s.media.ice_pwd = std::move(s.level.ice_pwd);
  s.media.fingerprint = std::move(s.level.fingerprint);
  s.media.setup = std::move(s.level.setup);
  s.media.end_of_candidates = s.level.end_of_candidates;
  offer.media.push_back(std::move(s.media));
}

// "<pt> <rest>": the pt (0..127) or nullopt; `rest` is what follows the first space.
std::optional<int> split_pt(std::string_view value, std::string_view& rest, bool allow_star) {
  size_t sp = value.find(' ');
  std::string_view pt = value.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view{} : value.substr(sp + 1);
  if (allow_star && pt == "*") return 128;
  return parse_int(pt, 0, 127);
}

std::optional<std::string_view> apply_rtpmap(Section& s, std::string_view value) {
  std::string_view enc;
  auto pt = split_pt(value, enc, false);
  if (!pt) return "bad rtpmap: payload type";
  std::string_view name = enc.substr(0, enc.find('/'));
  std::string_view tail = enc.substr(name.size());
  if (name.empty() || name.size() > 32) return "bad rtpmap: encoding name";
  for (char c : name)
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.'))
      return "bad rtpmap: encoding name";
  if (tail.empty()) return "bad rtpmap: no clock rate";
  tail.remove_prefix(1);
  std::string_view clock = tail.substr(0, tail.find('/'));
  tail.remove_prefix(clock.size());
  auto rate = parse_int(clock, 1, 10'000'000);
  if (!rate) return "bad rtpmap: clock rate";
  int channels = 0;
  if (!tail.empty()) {
    auto ch = parse_int(tail.substr(1), 0, 16);
    if (!ch) return "bad rtpmap: channels";
    channels = *ch;
  }
  if (!s.rtp || s.slot[*pt] < 0) return std::nullopt;  // not on this m-line: ignored
  if (s.rtpmap_seen[*pt]) return "duplicate rtpmap";
  s.rtpmap_seen[*pt] = true;
  SdpCodec& c = s.media.codecs[s.slot[*pt]];
  c.name = std::string(name);
  c.clock_rate = *rate;
  c.channels = channels;
  return std::nullopt;
}

std::optional<std::string_view> apply_fmtp(Section& s, std::string_view value) {
  std::string_view params;
  auto pt = split_pt(value, params, false);
  if (!pt) return "bad fmtp: payload type";
  if (!s.rtp || s.slot[*pt] < 0) return std::nullopt;
  if (s.fmtp_seen[*pt]) return "duplicate fmtp";
  s.fmtp_seen[*pt] = true;
  s.media.codecs[s.slot[*pt]].fmtp = std::string(params);
  return std::nullopt;
}

std::optional<std::string_view> apply_rtcp_fb(Section& s, std::string_view value) {
  std::string_view fb;
  auto pt = split_pt(value, fb, true);
  if (!pt) return "bad rtcp-fb: payload type";
  if (fb.empty() || fb.size() > 64) return "bad rtcp-fb";
  if (!s.rtp) return std::nullopt;
  for (SdpCodec& c : s.media.codecs) {
    if (*pt != 128 && c.pt != *pt) continue;
    if (c.rtcp_fb.size() == kMaxSdpRtcpFbPerCodec) return "too many rtcp-fb for one codec";
    c.rtcp_fb.emplace_back(fb);
  }
  return std::nullopt;
}

bool valid_candidate(std::string_view value) { return !candidate_address(value).empty(); }

}  // namespace

Expected<SdpOffer, std::string> parse_sdp_offer(std::string_view text) {
  if (auto e = check_size(text)) return std::move(*e);
  SdpOffer offer;
  Level session;
  LevelSeen session_seen;
  Section sec;
  bool in_media = false, seen_v = false, bundle_seen = false;
  Lines lines{text};
  std::string_view line;
  while (lines.next(line)) {
    if (auto e = check_line(lines, line)) return std::move(*e);
    if (line.empty()) continue;
    const size_t n = lines.number;
    const char type = line[0];
    if (!seen_v) {
      if (line != "v=0") return fail_at(n, "SDP must start with v=0");
      seen_v = true;
      continue;
    }
    if (type == 'v') return fail_at(n, "more than one v= line");
    if (type == 'm') {
      if (offer.media.size() + (in_media ? 1 : 0) == kMaxSdpMedia)
        return fail_at(n, "more than " + std::to_string(kMaxSdpMedia) + " m= lines");
      MLine ml;
      if (auto why = parse_m_line(line.substr(2), ml)) return fail_at(n, *why);
      if (in_media) finish_section(sec, offer);
      start_section(sec, ml, session);
      in_media = true;
      if (sec.rtp) {
        sec.media.codecs.reserve(ml.fmt_count);
        for (size_t i = 0; i < ml.fmt_count; ++i) {
          auto pt = parse_int(ml.fmts[i], 0, 127);
          if (!pt) return fail_at(n, "bad m= line: payload type");
          if (sec.slot[*pt] >= 0) return fail_at(n, "bad m= line: duplicate payload type");
          sec.slot[*pt] = static_cast<int8_t>(sec.media.codecs.size());
          SdpCodec& c = sec.media.codecs.emplace_back();
          c.pt = *pt;
          for (const StaticPt& st : kStaticPts) {
            if (st.pt != *pt) continue;
            c.name = st.name;
            c.clock_rate = st.clock;
            c.channels = st.channels;
          }
        }
      }
      continue;
    }
    if (type != 'a') continue;  // o=, s=, c=, b=, t= ...: nothing we need
    std::string_view name, value;
    split_attribute(line, name, value);
    std::optional<std::string_view> why;
    if (!in_media) {
      if (name == "group" && value.substr(0, 7) == "BUNDLE " && !bundle_seen) {
        bundle_seen = true;
        std::string_view ids = value.substr(7);
        for (std::string_view id = next_token(ids); !id.empty(); id = next_token(ids)) {
          if (offer.bundle_mids.size() == kMaxSdpMedia) return fail_at(n, "BUNDLE group too long");
          if (!is_token(id, 64)) return fail_at(n, "bad mid in BUNDLE group");
          offer.bundle_mids.emplace_back(id);
        }
      } else {
        why = apply_level_attribute(session, session_seen, name, value);
      }
    } else if (name == "mid") {
      if (sec.mid_seen) return fail_at(n, "duplicate mid");
      if (!is_token(value, 64)) return fail_at(n, "bad mid");
      for (const SdpMedia& m : offer.media)
        if (m.mid == value) return fail_at(n, "mid used twice");
      sec.mid_seen = true;
      sec.media.mid = std::string(value);
    } else if (name == "rtpmap") {
      why = apply_rtpmap(sec, value);
    } else if (name == "fmtp") {
      why = apply_fmtp(sec, value);
    } else if (name == "rtcp-fb") {
      why = apply_rtcp_fb(sec, value);
    } else if (name == "candidate") {
      std::string_view cand = line.substr(2);
      if (!valid_candidate(cand)) return fail_at(n, "bad candidate");
      if (sec.media.candidates.size() == kMaxSdpCandidates)
        return fail_at(n, "more than " + std::to_string(kMaxSdpCandidates) + " candidates");
      sec.media.candidates.emplace_back(cand);
    } else {
      why = apply_level_attribute(sec.level, sec.seen, name, value);
    }
    if (why) return fail_at(n, *why);
  }
  if (!seen_v) return fail("empty body");
  if (in_media) finish_section(sec, offer);
  if (auto ok = validate_webrtc_offer(offer); !ok) return unexpected(std::move(ok).error());
  return offer;
}

Expected<void, std::string> validate_webrtc_offer(const SdpOffer& offer) {
  bool any = false;
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const SdpMedia& m = offer.media[i];
    if (m.port == 0 || (m.kind != "audio" && m.kind != "video")) continue;
    any = true;
    const std::string where = "m-line " + std::to_string(i + 1) + " (" + m.kind + "): ";
    if (m.ice_ufrag.empty()) return unexpected(where + "no ice-ufrag");
    if (m.ice_pwd.empty()) return unexpected(where + "no ice-pwd");
    if (m.fingerprint.empty()) return unexpected(where + "no fingerprint");
    if (m.protocol.find("SAVP") == std::string::npos)
      return unexpected(where + "protocol " + m.protocol + " is not SRTP (SAVP/SAVPF)");
  }
  if (!any) return unexpected(std::string("no audio or video m= line with a port"));
  return {};
}

namespace {

// Value of `key` in "k1=v1;k2=v2" (keys case-insensitive), nullopt if absent.
std::optional<std::string_view> fmtp_param(std::string_view fmtp, std::string_view key) {
  while (!fmtp.empty()) {
    size_t semi = fmtp.find(';');
    std::string_view kv = fmtp.substr(0, semi);
    fmtp.remove_prefix(semi == std::string_view::npos ? fmtp.size() : semi + 1);
    while (!kv.empty() && kv.front() == ' ') kv.remove_prefix(1);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = kv.substr(0, eq);
    while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
    if (!iequals(k, key)) continue;
    std::string_view v = kv.substr(eq + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<SdpCodec> find_codec(const SdpMedia& m, std::string_view name,
                                   std::string_view preferred_profile) {
  const bool h264 = iequals(name, "H264");
  std::string_view want_idc;
  if (preferred_profile.size() >= 2 && is_hex(preferred_profile[0]) && is_hex(preferred_profile[1]))
    want_idc = preferred_profile.substr(0, 2);
  const SdpCodec* first = nullptr;
  for (const SdpCodec& c : m.codecs) {
    if (!iequals(c.name, name)) continue;
    if (!h264) return c;
    const bool mode1 = fmtp_param(c.fmtp, "packetization-mode") == std::string_view("1");
    if (!c.fmtp.empty() && !mode1) continue;  // mode 0 (single NAL) is all such a peer takes
    if (!first) first = &c;
    if (!mode1) continue;
    // RFC 6184: an absent profile-level-id means 42000A (baseline).
    std::string_view plid = fmtp_param(c.fmtp, "profile-level-id").value_or("42000a");
    if (want_idc.empty()) {
      if (istarts(plid, "42e0") || istarts(plid, "4200")) return c;
    } else if (istarts(plid, want_idc)) {
      return c;
    }
  }
  if (first) return *first;
  return std::nullopt;
}

std::string candidate_address(std::string_view candidate) {
  if (candidate.substr(0, 2) == "a=") candidate.remove_prefix(2);
  // Trailing blanks are trimmed as parse_sdp_offer does, so both agree on every line.
  while (!candidate.empty() && (candidate.back() == ' ' || candidate.back() == '\t'))
    candidate.remove_suffix(1);
  constexpr std::string_view kPrefix = "candidate:";
  if (candidate.substr(0, kPrefix.size()) != kPrefix) return {};
  candidate.remove_prefix(kPrefix.size());
  // Exactly one space between fields, as the grammar says.
  std::array<std::string_view, 8> f;
  for (size_t i = 0; i < f.size(); ++i) {
    size_t sp = candidate.find(' ');
    f[i] = candidate.substr(0, sp);
    if (f[i].empty()) return {};
    candidate.remove_prefix(sp == std::string_view::npos ? candidate.size() : sp + 1);
    if (sp == std::string_view::npos && i + 1 < f.size()) return {};
  }
  const auto& [foundation, component, transport, priority, address, port, typ, type] = f;
  if (!is_ice_chars(foundation, 1, 32)) return {};
  if (!parse_int(component, 1, 256)) return {};
  if (!is_token(transport, 16)) return {};
  if (priority.size() > 10) return {};
  uint64_t prio = 0;
  for (char c : priority) {
    if (!is_digit(c)) return {};
    prio = prio * 10 + static_cast<uint64_t>(c - '0');
  }
  if (prio > 0xFFFFFFFFull) return {};
  // IPv4, IPv6 (no brackets) or a host name such as an mDNS "<uuid>.local".
  if (address.size() > 253) return {};
  for (char c : address)
    if (!(is_alpha(c) || is_digit(c) || c == '.' || c == ':' || c == '-' || c == '_')) return {};
  if (!parse_int(port, 0, 65535)) return {};
  if (typ != "typ" || !is_token(type, 32)) return {};
  return std::string(address);
}

std::string filter_candidates(std::string_view sdp, const std::vector<std::string>& allowed) {
  std::string out;
  out.reserve(sdp.size() + sdp.size() / 8);
  Lines lines{sdp};
  std::string_view line;
  while (lines.next(line)) {
    if (line.substr(0, 12) == "a=candidate:") {
      const std::string addr = candidate_address(line);
      bool keep = false;
      for (const std::string& a : allowed) keep = keep || a == addr;
      if (!keep) continue;
    }
    out.append(line);
    out.append("\r\n");
  }
  return out;
}

Expected<TrickleFragment, std::string> parse_trickle_fragment(std::string_view text) {
  if (auto e = check_size(text)) return std::move(*e);
  TrickleFragment frag;
  // Section 0 holds candidates before any m= line; mids are filled in at the end because
  // a=mid may follow the candidates of its section.
  std::array<std::string, kMaxSdpMedia + 1> mids;
  std::array<bool, kMaxSdpMedia + 1> mid_seen{};
  std::vector<size_t> section_of;
  size_t section = 0, in_section = 0;
  bool any = false;
  Lines lines{text};
  std::string_view line;
  while (lines.next(line)) {
    if (auto e = check_line(lines, line)) return std::move(*e);
    if (line.empty()) continue;
    const size_t n = lines.number;
    if (line[0] == 'm') {
      if (section == kMaxSdpMedia)
        return fail_at(n, "more than " + std::to_string(kMaxSdpMedia) + " m= lines");
      MLine ml;
      if (auto why = parse_m_line(line.substr(2), ml)) return fail_at(n, *why);
      ++section;
      in_section = 0;
      continue;
    }
    if (line[0] != 'a') continue;
    std::string_view name, value;
    split_attribute(line, name, value);
    if (name == "ice-ufrag") {
      if (!is_ice_chars(value, 4, 256)) return fail_at(n, "bad ice-ufrag");
      if (!frag.ice_ufrag.empty() && frag.ice_ufrag != value)
        return fail_at(n, "conflicting ice-ufrag");
      frag.ice_ufrag = std::string(value);
      any = true;
    } else if (name == "ice-pwd") {
      if (!is_ice_chars(value, 22, 256)) return fail_at(n, "bad ice-pwd");
      if (!frag.ice_pwd.empty() && frag.ice_pwd != value) return fail_at(n, "conflicting ice-pwd");
      frag.ice_pwd = std::string(value);
    } else if (name == "mid") {
      if (section == 0) continue;  // a session-level mid means nothing
      if (mid_seen[section]) return fail_at(n, "duplicate mid");
      if (!is_token(value, 64)) return fail_at(n, "bad mid");
      mid_seen[section] = true;
      mids[section] = std::string(value);
    } else if (name == "candidate") {
      std::string_view cand = line.substr(2);
      if (!valid_candidate(cand)) return fail_at(n, "bad candidate");
      if (in_section == kMaxSdpCandidates)
        return fail_at(n, "more than " + std::to_string(kMaxSdpCandidates) + " candidates");
      ++in_section;
      frag.candidates.push_back({std::string(), std::string(cand)});
      section_of.push_back(section);
      any = true;
    } else if (name == "end-of-candidates") {
      frag.end_of_candidates = true;
      any = true;
    }
  }
  if (!any) return fail("no ice-ufrag, candidate or end-of-candidates in the fragment");
  for (size_t i = 0; i < frag.candidates.size(); ++i) frag.candidates[i].mid = mids[section_of[i]];
  return frag;
}

Expected<PublishCodecs, std::string> choose_publish_codecs(const SdpOffer& offer,
                                                           std::string_view locked) {
  PublishCodecs c;
  std::string refused;
  for (const auto& m : offer.media) {
    if (m.direction != "sendonly" && m.direction != "sendrecv") continue;
    if (m.kind == "video" && c.video.empty() && refused.empty()) {
      auto vp8 = locked == "H264" ? std::nullopt : find_codec(m, "VP8");
      auto h264 = locked == "VP8" ? std::nullopt : find_codec(m, "H264");
      // The publisher's preference is its m-line order.
      auto index = [&](const std::optional<SdpCodec>& x) {
        if (!x) return m.codecs.size();
        return size_t(std::find_if(m.codecs.begin(), m.codecs.end(),
                                   [&](const SdpCodec& k) { return k.pt == x->pt; }) -
                      m.codecs.begin());
      };
      if (vp8 && index(vp8) <= index(h264)) {
        c.video = "VP8";
        c.video_pt = vp8->pt;
      } else if (h264) {
        c.video = "H264";
        c.video_pt = h264->pt;
      } else {
        refused = locked.empty() ? "the offer's video has neither VP8 nor H.264"
                                 : "this broadcast carries " +
                                       std::string(locked == "H264" ? "H.264" : "VP8") +
                                       " video and the offer has none";
      }
    }
    if (m.kind == "audio" && c.audio_pt < 0)
      if (auto opus = find_codec(m, "opus")) {
        c.audio_pt = opus->pt;
        c.audio_channels = opus->channels == 1 ? 1 : 2;
      }
  }
  if (!refused.empty()) return unexpected(refused);
  if (c.video.empty() && c.audio_pt < 0)
    return unexpected(
        std::string("the offer sends no supported codec (VP8 or H.264 video, Opus audio)"));
  return c;
}

PlayCodecs choose_play_codecs(const SdpOffer& offer, std::string_view video, bool audio) {
  PlayCodecs c;
  for (const auto& m : offer.media) {
    if (m.direction != "recvonly" && m.direction != "sendrecv") continue;
    if (m.kind == "video" && c.video_pt < 0 && !video.empty())
      if (auto v = find_codec(m, video)) c.video_pt = v->pt;
    if (m.kind == "audio" && c.audio_pt < 0 && audio)
      if (auto a = find_codec(m, "opus")) c.audio_pt = a->pt;
  }
  return c;
}

}  // namespace meshcast::signaling
