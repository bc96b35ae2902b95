// RFC 6455 framing without I/O, mainly for the server side of a WebSocket: bytes from a
// client go in, whole messages come out; server frames (unmasked) are encoded. Load tools
// decode the server's frames with the same decoder (Sender::kServer: frames unmasked). Everything a
// client sends is untrusted: lengths are checked before anything is buffered, a message larger than
// the limit is an error without being held, and any protocol violation ends the stream.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshcast::signaling::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// One complete message (text and binary reassembled from fragments) or control frame.
struct Message {
  Opcode opcode = Opcode::kText;
  std::string payload;      // close: the reason text only
  uint16_t close_code = 0;  // close: 1005 when the frame carried no code
};

// Close codes (RFC 6455 7.4.1) the server sends.
constexpr uint16_t kCloseNormal = 1000;
constexpr uint16_t kCloseGoingAway = 1001;
constexpr uint16_t kCloseProtocolError = 1002;
constexpr uint16_t kCloseInvalidPayload = 1007;
constexpr uint16_t kClosePolicyViolation = 1008;
constexpr uint16_t kCloseTooBig = 1009;

// Who sends the bytes being decoded: a client masks every frame, a server never does.
enum class Sender : uint8_t { kClient, kServer };

class FrameDecoder {
 public:
  explicit FrameDecoder(uint64_t max_message_bytes, Sender from = Sender::kClient)
      : max_(max_message_bytes), from_(from) {}

  // Appends bytes read from the client (dropped once failed). Parse with next() until it
  // returns nothing.
  void feed(std::string_view bytes) {
    if (!failed()) buf_.append(bytes);
  }
  // The next complete message, or nullopt when more bytes are needed or the stream failed
  // (then failed() is true, and close_code()/error() say why; nothing more is parsed).
  std::optional<Message> next();

  bool failed() const { return close_code_ != 0; }
  uint16_t close_code() const { return close_code_; }
  const std::string& error() const { return error_; }
  // Bytes held: unparsed input plus a partial fragmented message.
  std::size_t buffered() const { return buf_.size() - pos_ + partial_.size(); }

 private:
  std::optional<Message> fail(uint16_t code, const char* why);

  uint64_t max_;
  Sender from_;
  std::string buf_;
  std::size_t pos_ = 0;  // parsed up to here (compacted as it grows)
  std::string partial_;  // a fragmented data message so far
  bool in_fragments_ = false;
  Opcode partial_op_ = Opcode::kText;
  uint16_t close_code_ = 0;
  std::string error_;
};

// A final, unmasked server frame.
std::string encode_frame(Opcode op, std::string_view payload);
// A final client frame, masked with `mask`.
std::string encode_client_frame(Opcode op, std::string_view payload, uint32_t mask);
// A close frame: code, then as much of `reason` as fits in a control frame.
std::string encode_close(uint16_t code, std::string_view reason);
// Frame bytes of a server text frame with this payload size (head included).
constexpr uint64_t frame_size(uint64_t payload) {
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

}  // namespace meshcast::signaling::ws
