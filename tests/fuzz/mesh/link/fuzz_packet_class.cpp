// Fuzzes the RFC 7983 demux and the trickle candidate parser.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mesh/link/candidate.hpp"
#include "mesh/link/packet_class.hpp"

using namespace meshcast::link;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PacketClass c = classify_packet(data, size);
  if (c == PacketClass::kRtp && (size < 12 || data[0] < 128 || data[0] > 191)) std::abort();
  if (c == PacketClass::kRtcp && (size < 8 || data[1] < 192 || data[1] > 223)) std::abort();
  std::string_view line(reinterpret_cast<const char*>(data), size);
  if (auto info = parse_candidate(line)) {
    if (info->component == 0 || info->priority == 0 || info->address.empty()) std::abort();
  } else if (info.error().empty()) {
    std::abort();
  }
  return 0;
}
