// Size limits of the signaling protocol (docs/protocol.md, "Limits").
#pragma once
#include <cstddef>

namespace meshcast::signaling::limits {
inline constexpr std::size_t kMaxFrameBytes = 64 * 1024;  // one WebSocket text message
inline constexpr std::size_t kMaxRelayPayloadBytes = 16 * 1024;
inline constexpr std::size_t kMaxCodecBytes = 2048;
inline constexpr int kMaxJsonDepth = 32;
inline constexpr std::size_t kMaxIdLen = 64;    // peer ids, stream names, request ids
inline constexpr std::size_t kMaxKeyLen = 128;  // view keys, secrets, public keys
inline constexpr std::size_t kMinViewKeyLen = 8;
inline constexpr std::size_t kMaxReasonLen = 256;
inline constexpr std::size_t kMaxKindLen = 32;
inline constexpr std::size_t kMaxListLen = 64;  // exclude, accept_calls, partners
inline constexpr long long kMaxListPage = 100;  // streams per stream_list / GET /api/streams page
inline constexpr long long kDefaultListPage = 50;
inline constexpr long long kMaxOverlayPage = 2000;  // peers per overlay page
inline constexpr long long kDefaultOverlayPage = 500;
inline constexpr std::size_t kMaxStatsKeys = 32;
inline constexpr int kMaxNeighbours = 16;
inline constexpr long long kMaxUploadKbps = 10'000'000;
inline constexpr long long kMaxBitrateKbps = 1'000'000;
// A report's bytes received from one partner since the previous report (1 TiB: far above any
// real interval; the tracker caps what a reporter can vouch for anyway).
inline constexpr long long kMaxReportRxBytes = 1LL << 40;
inline constexpr long long kMinCallTimeoutMs = 100;
inline constexpr long long kMaxCallTimeoutMs = 300'000;
}  // namespace meshcast::signaling::limits
