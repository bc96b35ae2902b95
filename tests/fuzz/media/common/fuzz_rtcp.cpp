#include <cstddef>
#include <cstdint>
#include <variant>

#include "media/common/rtcp.hpp"

using namespace meshcast::media;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto pkts = parse_rtcp({data, size});
  // Every rejection says why.
  if (!pkts) {
    if (pkts.error() == nullptr || pkts.error()[0] == '\0') __builtin_trap();
    return 0;
  }
  // Everything we parsed must rebuild into something that parses again.
  for (const auto& p : *pkts) {
    std::vector<uint8_t> b;
    if (auto* sr = std::get_if<SenderReport>(&p))
      b = build_sr(*sr);
    else if (auto* rr = std::get_if<ReceiverReport>(&p))
      b = build_rr(*rr);
    else if (auto* n = std::get_if<Nack>(&p))
      b = build_nack(*n);
    else if (auto* pli = std::get_if<Pli>(&p))
      b = build_pli(*pli);
    else
      continue;
    if (!parse_rtcp(b)) __builtin_trap();
  }
  return 0;
}
