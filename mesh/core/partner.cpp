#include "mesh/core/partner.hpp"

namespace meshcast::mesh {

bool Partner::likely_has(uint32_t n, TimeUs now, TimeUs seg_us) const {
  if (!has_bm || n >= not_have_from) return false;
  if (bm.has(n)) return true;
  if (bm.count == 0) return false;
  const uint32_t top = bm.base + bm.count - 1;
  return n > top && TimeUs(n - top) * seg_us <= now - bm_at;
}

}  // namespace meshcast::mesh
