#include "media/common/rtcp.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace meshcast::media;

namespace {
ReportBlock sample_block() {
  return ReportBlock{0x11223344, 25, -5, 70000, 123, 0xAABBCCDD, 0x00010000};
}
}  // namespace

TEST(Rtcp, SenderReportRoundTrip) {
  SenderReport sr{0xDEADBEEF, 0x0123456789ABCDEFull, 4242, 10, 1000, {sample_block()}};
  auto bytes = build_sr(sr);
  EXPECT_EQ(bytes.size(), 28u + 24);
  auto parsed = parse_rtcp(bytes);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ(std::get<SenderReport>((*parsed)[0]), sr);
}

TEST(Rtcp, ReceiverReportRoundTripWithNegativeLoss) {
  ReceiverReport rr{7, {sample_block(), ReportBlock{9, 255, 0x7fffff, 1, 2, 3, 4}}};
  auto parsed = parse_rtcp(build_rr(rr));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<ReceiverReport>((*parsed)[0]), rr);
}

TEST(Rtcp, NackPacksIntoPidBlpAndRoundTrips) {
  Nack n{1, 2, {100, 101, 116, 117, 200, 65535, 0}};
  auto bytes = build_nack(n);
  // 100 covers 101 and 116; 117 next pair; 200; 65535 covers 0 (wrap) -> 4 FCI entries.
  EXPECT_EQ(bytes.size(), 12u + 4 * 4);
  auto parsed = parse_rtcp(bytes);
  ASSERT_TRUE(parsed);
  auto got = std::get<Nack>((*parsed)[0]);
  std::vector<uint16_t> want{100, 101, 116, 117, 200, 65535, 0};
  std::sort(got.seqs.begin(), got.seqs.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got.seqs, want);
  EXPECT_EQ(got.sender_ssrc, 1u);
  EXPECT_EQ(got.media_ssrc, 2u);
}

TEST(Rtcp, CompoundSrPliNack) {
  auto a = build_sr(SenderReport{1, 2, 3, 4, 5, {}});
  auto b = build_pli(Pli{6, 7});
  auto c = build_nack(Nack{8, 9, {5}});
  std::vector<uint8_t> all = a;
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  auto parsed = parse_rtcp(all);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_TRUE(std::holds_alternative<SenderReport>((*parsed)[0]));
  EXPECT_EQ(std::get<Pli>((*parsed)[1]), (Pli{6, 7}));
  EXPECT_EQ(std::get<Nack>((*parsed)[2]).seqs, std::vector<uint16_t>{5});
}

TEST(Rtcp, UnknownTypesAreKeptAsOther) {
  std::vector<uint8_t> sdes{0x81, 202, 0, 1, 0, 0, 0, 1};
  auto parsed = parse_rtcp(sdes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<OtherRtcp>((*parsed)[0]).packet_type, 202);
}

TEST(Rtcp, MalformedInputIsRejected) {
  auto sr = build_sr(SenderReport{1, 2, 3, 4, 5, {sample_block()}});
  auto rr = build_rr(ReceiverReport{1, {sample_block()}});
  auto nack = build_nack(Nack{1, 2, {3}});
  std::vector<std::vector<uint8_t>> bad;
  bad.push_back({});                             // 1 empty
  bad.push_back({0x80, 201});                    // 2 shorter than a header
  bad.push_back({0x40, 201, 0, 1, 0, 0, 0, 0});  // 3 version 1
  bad.push_back({0x80, 201, 0, 5, 0, 0, 0, 0});  // 4 length past the end
  auto t = sr;
  t.resize(t.size() - 4);  // 5 truncated report block (length field still claims it)
  bad.push_back(t);
  t = rr;
  t[0] = 0x82;  // 6 report count 2 with room for one
  bad.push_back(t);
  bad.push_back({0x80, 200, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0});  // 7 SR without sender info
  bad.push_back({0x81, 205, 0, 1, 0, 0, 0, 1});              // 8 NACK without media SSRC
  t = nack;
  t.push_back(0);  // 9 trailing garbage shorter than a header
  bad.push_back(t);
  bad.push_back({0xA0, 201, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0});  // 10 padding count 0
  bad.push_back({0xA0, 201, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9});  // 11 padding longer than body
  bad.push_back({0x80, 96, 0, 1, 0, 0, 0, 1});               // 12 RTP, not RTCP
  t = sr;
  t.insert(t.end(), {0x80, 201, 0, 2, 0, 0, 0, 1});  // 13 second packet truncated
  bad.push_back(t);
  bad.push_back({0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0});  // 14 partial FCI
  for (size_t i = 0; i < bad.size(); ++i) {
    auto r = parse_rtcp(bad[i]);
    ASSERT_FALSE(r) << "case " << i + 1;
    EXPECT_NE(std::string(r.error()), "") << "case " << i + 1;  // says why
  }
}

TEST(Rtcp, NtpAndRtt) {
  const uint64_t ntp = ntp_from_unix_us(1'500'000);
  EXPECT_EQ(ntp >> 32, 2208988800ull + 1);
  EXPECT_NEAR(double(ntp & 0xffffffff) / 4294967296.0, 0.5, 1e-6);
  // SR sent at mid32 = X; receiver held it 0.5 s (DLSR); report arrives 0.55 s after X.
  const uint32_t lsr = 0x12340000;
  const uint32_t dlsr = 0x8000;                    // 0.5 s in 1/65536 s
  const uint32_t arrival = lsr + 0x8000 + 0x0CCC;  // + ~50 ms
  auto rtt = rtt_ms_from_report(lsr, dlsr, arrival);
  ASSERT_TRUE(rtt);
  EXPECT_NEAR(*rtt, 50.0, 0.1);
  EXPECT_FALSE(rtt_ms_from_report(0, dlsr, arrival));        // no SR seen
  EXPECT_FALSE(rtt_ms_from_report(lsr, dlsr, lsr + 0x100));  // negative
}
