// The WebSocket frame decoder takes bytes from untrusted clients: well-formed frames in any
// split, then each kind of violation, which must end the stream with the right close code
// and without buffering what an oversized length announces.
#include "signaling/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace meshcast::signaling::ws;

namespace {

// A client frame: masked, as RFC 6455 requires of clients.
std::string client_frame(uint8_t first, const std::string& payload, bool masked = true,
                         int force_len_bytes = 0) {
  std::string f(1, static_cast<char>(first));
  const uint64_t n = payload.size();
  const char mask_bit = masked ? char(0x80) : char(0);
  if (n < 126 && force_len_bytes == 0) {
    f.push_back(static_cast<char>(mask_bit | n));
  } else if (n < 65536 && force_len_bytes != 8) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(masked ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

}  // namespace

TEST(WsFrame, TextArrivesWholeWhateverTheSplit) {
  const std::string msg = R"({"type":"hello","role":"viewer"})";
  const std::string bytes = client_frame(0x81, msg) + client_frame(0x81, std::string(300, 'x'));
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 1000u}) {
    FrameDecoder d(1024);
    std::vector<std::string> got;
    for (std::size_t at = 0; at < bytes.size(); at += step) {
      d.feed(std::string_view(bytes).substr(at, step));
      while (auto m = d.next()) got.push_back(m->payload);
    }
    ASSERT_FALSE(d.failed()) << d.error();
    ASSERT_EQ(got.size(), 2u) << "step " << step;
    EXPECT_EQ(got[0], msg);
    EXPECT_EQ(got[1], std::string(300, 'x'));
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(WsFrame, FragmentsAreJoinedAndControlFramesMayInterleave) {
  FrameDecoder d(1024);
  d.feed(client_frame(0x01, "ab") + client_frame(0x89, "p") + client_frame(0x00, "cd") +
         client_frame(0x80, "ef"));
  auto ping = d.next();
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, Opcode::kPing);
  EXPECT_EQ(ping->payload, "p");
  auto text = d.next();
  ASSERT_TRUE(text);
  EXPECT_EQ(text->opcode, Opcode::kText);
  EXPECT_EQ(text->payload, "abcdef");
  EXPECT_FALSE(d.next());
}

TEST(WsFrame, CloseCarriesItsCode) {
  FrameDecoder d(64);
  d.feed(client_frame(0x88, std::string("\x03\xe9", 2) + "bye") + client_frame(0x88, ""));
  auto c = d.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->opcode, Opcode::kClose);
  EXPECT_EQ(c->close_code, 1001);
  EXPECT_EQ(c->payload, "bye");
  auto empty = d.next();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->close_code, 1005);
}

TEST(WsFrame, EachViolationEndsTheStreamWithItsCode) {
  struct Case {
    const char* what;
    std::string bytes;
    uint16_t code;
  } cases[] = {
      {"unmasked", client_frame(0x81, "hi", false), kCloseProtocolError},
      {"reserved bit", client_frame(0xC1, "hi"), kCloseProtocolError},
      {"unknown opcode", client_frame(0x83, "hi"), kCloseProtocolError},
      {"fragmented ping", client_frame(0x09, "hi"), kCloseProtocolError},
      {"long ping", client_frame(0x89, std::string(126, 'p')), kCloseProtocolError},
      {"lone continuation", client_frame(0x80, "hi"), kCloseProtocolError},
      {"text inside fragments", client_frame(0x01, "a") + client_frame(0x81, "b"),
       kCloseProtocolError},
      {"one-byte close", client_frame(0x88, "x"), kCloseProtocolError},
      {"too big", client_frame(0x81, std::string(101, 'x')), kCloseTooBig},
      {"too big in fragments",
       client_frame(0x01, std::string(60, 'x')) + client_frame(0x80, std::string(60, 'x')),
       kCloseTooBig},
  };
  for (auto& c : cases) {
    FrameDecoder d(100);
    d.feed(c.bytes);
    while (d.next()) {
    }
    EXPECT_TRUE(d.failed()) << c.what;
    EXPECT_EQ(d.close_code(), c.code) << c.what;
    EXPECT_FALSE(d.error().empty()) << c.what;
    // Failed for good: later bytes, even valid ones, give nothing and are not kept.
    d.feed(client_frame(0x81, "ok"));
    EXPECT_FALSE(d.next()) << c.what;
    EXPECT_EQ(d.buffered(), 0u) << c.what;
  }
}

// The head alone announces 2^62 bytes: refused at once, nothing waits for the payload.
TEST(WsFrame, AHugeDeclaredLengthIsRefusedBeforeAnyPayload) {
  FrameDecoder d(256 * 1024);
  std::string head = {char(0x81), char(0xFF), 0x3F,       char(0xFF), char(0xFF),
                      char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0xFF)};
  d.feed(head);
  EXPECT_FALSE(d.next());
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.close_code(), kCloseTooBig);
  EXPECT_EQ(d.buffered(), 0u);
  FrameDecoder top(256 * 1024);
  head[2] = char(0x80);  // the most significant bit must be 0
  top.feed(head);
  EXPECT_FALSE(top.next());
  EXPECT_EQ(top.close_code(), kCloseProtocolError);
}

TEST(WsFrame, ServerFramesUseTheShortestLengthAndNoMask) {
  EXPECT_EQ(encode_frame(Opcode::kText, "hi"), std::string("\x81\x02hi", 4));
  const std::string mid = encode_frame(Opcode::kText, std::string(300, 'a'));
  ASSERT_EQ(mid.size(), 304u);
  EXPECT_EQ(uint8_t(mid[1]), 126);
  EXPECT_EQ((uint8_t(mid[2]) << 8) | uint8_t(mid[3]), 300);
  const std::string big = encode_frame(Opcode::kBinary, std::string(70000, 'b'));
  ASSERT_EQ(big.size(), 70010u);
  EXPECT_EQ(uint8_t(big[1]), 127);
  EXPECT_EQ(frame_size(2), 4u);
  EXPECT_EQ(frame_size(300), 304u);
  EXPECT_EQ(frame_size(70000), 70010u);
  const std::string c = encode_close(1008, std::string(200, 'r'));
  EXPECT_EQ(c.size(), 2u + 125u);  // a control frame holds at most 125 bytes
  EXPECT_EQ(uint8_t(c[0]), 0x88);
}

// The same decoder reads a server's frames for load tools: unmasked only.
TEST(WsFrame, ServerSideDecodingTakesUnmaskedFramesAndRefusesMaskedOnes) {
  FrameDecoder from_server(1 << 20, Sender::kServer);
  const std::string big(70000, 'z');
  from_server.feed(encode_frame(Opcode::kText, "welcome") + encode_frame(Opcode::kPing, "") +
                   encode_frame(Opcode::kText, big));
  auto a = from_server.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->payload, "welcome");
  auto b = from_server.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->opcode, Opcode::kPing);
  auto c = from_server.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->payload, big);
  EXPECT_FALSE(from_server.failed());

  from_server.feed(client_frame(0x81, "masked"));
  EXPECT_FALSE(from_server.next());
  EXPECT_TRUE(from_server.failed());
  EXPECT_EQ(from_server.close_code(), kCloseProtocolError);
}

// A client frame made by the encoder decodes back on the server side, at every length form.
TEST(WsFrame, ClientFramesRoundTripThroughTheServerDecoder) {
  for (std::size_t n : {0u, 5u, 125u, 126u, 300u, 65535u, 65536u, 70000u}) {
    const std::string payload(n, 'q');
    const std::string f = encode_client_frame(Opcode::kText, payload, 0xA1B2C3D4u);
    EXPECT_EQ(f.size(), frame_size(n) + 4) << n;
    EXPECT_NE(uint8_t(f[1]) & 0x80, 0) << n;
    FrameDecoder d(1 << 20);
    d.feed(f);
    auto m = d.next();
    ASSERT_TRUE(m) << n << ": " << d.error();
    EXPECT_EQ(m->payload, payload);
  }
}
