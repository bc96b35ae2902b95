#include "signaling/ws_frame.hpp"

namespace meshcast::signaling::ws {

namespace {
bool is_control(uint8_t op) { return op >= 0x8; }
bool known(uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }
}  // namespace

std::optional<Message> FrameDecoder::fail(uint16_t code, const char* why) {
  close_code_ = code;
  error_ = why;
  buf_.clear();
  pos_ = 0;
  partial_.clear();
  return std::nullopt;
}

std::optional<Message> FrameDecoder::next() {
  while (!failed()) {
    // Drop what was parsed once it is most of the buffer (amortised O(1) per byte).
    if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    const std::size_t avail = buf_.size() - pos_;
    if (avail < 2) return std::nullopt;
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
    const bool fin = p[0] & 0x80;
    const uint8_t op = p[0] & 0x0F;
    if (p[0] & 0x70) return fail(kCloseProtocolError, "reserved bits set (no extension agreed)");
    if (!known(op)) return fail(kCloseProtocolError, "unknown opcode");
    const bool masked = p[1] & 0x80;
    if (from_ == Sender::kClient && !masked)
      return fail(kCloseProtocolError, "client frame not masked");
    if (from_ == Sender::kServer && masked) return fail(kCloseProtocolError, "server frame masked");
    uint64_t len = p[1] & 0x7F;
    std::size_t head = 2;
    if (len == 126) {
      head = 4;
      if (avail < head) return std::nullopt;
      len = (uint64_t(p[2]) << 8) | p[3];
    } else if (len == 127) {
      head = 10;
      if (avail < head) return std::nullopt;
      if (p[2] & 0x80) return fail(kCloseProtocolError, "64-bit length with the top bit set");
      len = 0;
      for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
    }
    if (is_control(op)) {
      if (!fin) return fail(kCloseProtocolError, "fragmented control frame");
      if (len > 125) return fail(kCloseProtocolError, "control frame over 125 bytes");
    } else {
      if (op == 0 && !in_fragments_) return fail(kCloseProtocolError, "continuation of nothing");
      if (op != 0 && in_fragments_) return fail(kCloseProtocolError, "new message in fragments");
      // Checked against the declared length: nothing of an oversized message is buffered.
      if (len > max_ || partial_.size() + len > max_)
        return fail(kCloseTooBig, "message over the size limit");
    }
    const std::size_t mask_len = masked ? 4 : 0;
    const std::size_t total = head + mask_len + static_cast<std::size_t>(len);
    if (avail < total) return std::nullopt;
    std::string payload(reinterpret_cast<const char*>(p + head + mask_len),
                        static_cast<std::size_t>(len));
    if (masked) {
      const uint8_t* mask = p + head;
      for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= static_cast<char>(mask[i & 3]);
    }
    pos_ += total;
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }

    if (is_control(op)) {
      Message m;
      m.opcode = static_cast<Opcode>(op);
      if (m.opcode == Opcode::kClose) {
        if (payload.size() == 1) return fail(kCloseProtocolError, "close frame of one byte");
        m.close_code = 1005;
        if (payload.size() >= 2) {
          m.close_code = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
          payload.erase(0, 2);
        }
      }
      m.payload = std::move(payload);
      return m;
    }
    if (!fin) {
      if (!in_fragments_) partial_op_ = static_cast<Opcode>(op);
      in_fragments_ = true;
      partial_ += payload;
      continue;
    }
    Message m;
    if (in_fragments_) {
      m.opcode = partial_op_;
      m.payload = std::move(partial_);
      m.payload += payload;
      partial_.clear();
      in_fragments_ = false;
    } else {
      m.opcode = static_cast<Opcode>(op);
      m.payload = std::move(payload);
    }
    return m;
  }
  return std::nullopt;
}

namespace {
std::string encode(Opcode op, std::string_view payload, const uint32_t* mask) {
  std::string f;
  const uint64_t n = payload.size();
  f.reserve(static_cast<std::size_t>(frame_size(n)) + (mask ? 4 : 0));
  f.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(op)));
  const char mask_bit = mask ? char(0x80) : char(0);
  if (n < 126) {
    f.push_back(static_cast<char>(mask_bit | static_cast<char>(n)));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  if (!mask) {
    f.append(payload);
    return f;
  }
  char key[4];
  for (int i = 0; i < 4; ++i) key[i] = static_cast<char>((*mask >> (8 * (3 - i))) & 0xFF);
  f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(payload[i] ^ key[i & 3]);
  return f;
}
}  // namespace

std::string encode_frame(Opcode op, std::string_view payload) {
  return encode(op, payload, nullptr);
}

std::string encode_client_frame(Opcode op, std::string_view payload, uint32_t mask) {
  return encode(op, payload, &mask);
}

std::string encode_close(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason.substr(0, 123));
  return encode_frame(Opcode::kClose, p);
}

}  // namespace meshcast::signaling::ws
