// RFC 7983 demultiplexing of everything arriving on the ICE component.
#pragma once
#include <cstddef>
#include <cstdint>

namespace meshcast::link {

enum class PacketClass { kStun, kDtls, kRtp, kRtcp, kUnknown };
const char* to_string(PacketClass c);

// First byte 0-3 STUN, 20-63 DTLS, 128-191 RTP/RTCP (RTCP when the second byte,
// the RTCP packet type, is 192-223 per RFC 5761). Anything else, or a packet too
// short to hold the header of its class, is kUnknown.
PacketClass classify_packet(const uint8_t* data, size_t len);

}  // namespace meshcast::link
