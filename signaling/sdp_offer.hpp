// SDP offers and trickle-ICE fragments as they arrive in WHIP/WHEP HTTP bodies: untrusted
// text, so every count, length and number is bounded and every refusal says why in a short
// sentence fit for an HTTP 400 body ("line 7: bad m= line"). Pure: no I/O, no GStreamer.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/base/expected.hpp"

namespace meshcast::signaling {

inline constexpr size_t kMaxSdpBytes = 64 * 1024;
inline constexpr size_t kMaxSdpLines = 2000;
inline constexpr size_t kMaxSdpMedia = 16;
inline constexpr size_t kMaxSdpLineBytes = 4096;     // without the line ending
inline constexpr size_t kMaxSdpCodecs = 64;          // payload types on one m-line
inline constexpr size_t kMaxSdpCandidates = 64;      // a=candidate lines in one m-section
inline constexpr size_t kMaxSdpRtcpFbPerCodec = 16;  // a=rtcp-fb:* would multiply otherwise

struct SdpCodec {
  int pt = -1;
  std::string name;  // as written, e.g. "VP8", "H264", "opus"; "" for a dynamic pt without rtpmap
  int clock_rate = 0;
  int channels = 0;  // as written in the rtpmap, 0 if absent (1 for static audio pts)
  std::string fmtp;  // the a=fmtp parameters text or ""
  std::vector<std::string> rtcp_fb;  // "nack", "nack pli", "goog-remb", ...
};

struct SdpMedia {
  std::string kind;      // "audio", "video", "application", ...
  int port = 0;          // 0 = rejected (or bundle-only) m-line
  std::string protocol;  // e.g. "UDP/TLS/RTP/SAVPF"
  std::string mid;
  std::string direction = "sendrecv";  // sendrecv|sendonly|recvonly|inactive (session default)
  // In m-line order; rtpmap/fmtp/rtcp-fb joined by pt; static pts without rtpmap named per
  // RFC 3551 (0 PCMU, 8 PCMA, 9 G722, ...). Empty for non-RTP protocols (data channels).
  std::vector<SdpCodec> codecs;
  std::vector<std::string> candidates;  // "candidate:..." (without "a=")
  bool end_of_candidates = false;
  // Media-level, falling back to session-level. fingerprint is "sha-256 AB:CD:..." (first one).
  std::string ice_ufrag, ice_pwd, fingerprint, setup;
};

struct SdpOffer {
  std::vector<SdpMedia> media;
  std::vector<std::string> bundle_mids;  // of the first a=group:BUNDLE
};

// Parses and checks an offer for WebRTC use: v=0 first, at least one audio or video m-line
// with port != 0, and every such m-line has ice-ufrag, ice-pwd and fingerprint (session or
// media level) and a protocol containing "SAVP" (SAVP or SAVPF). Lines end in CRLF or LF.
// Refused: text over kMaxSdpBytes, more than kMaxSdpLines lines, a line over
// kMaxSdpLineBytes, NUL or stray CR, more than kMaxSdpMedia m-lines, more than kMaxSdpCodecs
// formats or kMaxSdpCandidates candidates in an m-section, out-of-range numbers (pt 0..127,
// clock 1..10^7, channels 0..16, port 0..65535), duplicate rtpmap/fmtp/mid, malformed
// candidates. Unknown attributes are ignored, as are rtpmap/fmtp/rtcp-fb for pts not on the
// m-line.
Expected<SdpOffer, std::string> parse_sdp_offer(std::string_view text);

// The WebRTC part of parse_sdp_offer's checks on an already parsed offer.
Expected<void, std::string> validate_webrtc_offer(const SdpOffer& offer);

// Case-insensitive codec lookup in an m-line; nullopt if none fits.
// H264 is only acceptable with packetization-mode=1 or with no fmtp at all (OBS's
// libdatachannel sends H264 without fmtp). Among acceptable H264: if preferred_profile is
// empty (or has no two hex digits), prefer packetization-mode=1 with profile-level-id starting
// "42e0" or "4200" (constrained baseline / baseline); otherwise prefer one whose
// profile_idc (first 2 hex digits of profile-level-id) equals preferred_profile's first 2
// hex digits; else the first acceptable. Other codecs: the first with that name.
std::optional<SdpCodec> find_codec(const SdpMedia& m, std::string_view name,
                                   std::string_view preferred_profile = {});

// The address (5th field) of "candidate:..." (an "a=" prefix is allowed), "" if the line is not
// a well-formed RFC 8839 candidate (foundation, component, transport, priority, address, port,
// "typ", type).
std::string candidate_address(std::string_view candidate);

// The SDP text with every a=candidate line removed whose address is not in `allowed` (exact
// match; malformed candidates have address ""). Other lines are kept byte-exact; every kept
// line ends in CRLF. Used to keep ICE on loopback in tests. No size limits: a pure filter.
std::string filter_candidates(std::string_view sdp, const std::vector<std::string>& allowed);

// application/trickle-ice-sdpfrag (RFC 8840) bodies of WHIP/WHEP PATCH requests. Same size and
// line limits as parse_sdp_offer; at most kMaxSdpMedia m-lines and kMaxSdpCandidates
// candidates per m-section. Candidates before any m= line have mid "".
struct TrickleFragment {
  std::string ice_ufrag, ice_pwd;
  struct Item {
    std::string mid;
    std::string candidate;  // "candidate:..." (without "a=")
  };
  std::vector<Item> candidates;
  bool end_of_candidates = false;
};
Expected<TrickleFragment, std::string> parse_trickle_fragment(std::string_view text);

// Codecs a WHIP publisher's offer sends that meshcast passes through: the first of VP8 and
// H.264 in the video m-line's own order (only `locked` when not empty: a broadcast keeps one
// video codec), and Opus. An offer m-line counts when it sends (sendonly or sendrecv).
struct PublishCodecs {
  std::string video;  // "VP8", "H264" or "" (no video)
  int video_pt = -1;
  int audio_pt = -1;  // Opus; -1 = no audio
  int audio_channels = 2;
};
// The error is a reason fit for an HTTP 400 body.
Expected<PublishCodecs, std::string> choose_publish_codecs(const SdpOffer& offer,
                                                           std::string_view locked = {});

// The payload types a WHEP player's offer (recvonly or sendrecv m-lines) uses for a stream
// of `video` ("VP8", "H264" or "") and Opus audio when `audio`; -1 where it cannot take one.
struct PlayCodecs {
  int video_pt = -1;
  int audio_pt = -1;
};
PlayCodecs choose_play_codecs(const SdpOffer& offer, std::string_view video, bool audio);

}  // namespace meshcast::signaling
