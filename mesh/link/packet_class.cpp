#include "mesh/link/packet_class.hpp"

namespace meshcast::link {

const char* to_string(PacketClass c) {
  switch (c) {
    case PacketClass::kStun:
      return "stun";
    case PacketClass::kDtls:
      return "dtls";
    case PacketClass::kRtp:
      return "rtp";
    case PacketClass::kRtcp:
      return "rtcp";
    case PacketClass::kUnknown:
      break;
  }
  return "unknown";
}

PacketClass classify_packet(const uint8_t* data, size_t len) {
  if (data == nullptr || len == 0) return PacketClass::kUnknown;
  uint8_t b = data[0];
  if (b <= 3) return len >= 20 ? PacketClass::kStun : PacketClass::kUnknown;
  if (b >= 20 && b <= 63) return len >= 13 ? PacketClass::kDtls : PacketClass::kUnknown;
  if (b >= 128 && b <= 191) {
    if (len < 2) return PacketClass::kUnknown;
    if (data[1] >= 192 && data[1] <= 223)
      return len >= 8 ? PacketClass::kRtcp : PacketClass::kUnknown;
    return len >= 12 ? PacketClass::kRtp : PacketClass::kUnknown;
  }
  return PacketClass::kUnknown;
}

}  // namespace meshcast::link
