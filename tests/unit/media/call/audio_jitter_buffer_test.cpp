// Deterministic jitter buffer / playout decision tests: fixed arrival schedules, a simulated
// playout clock that pops once per frame.
#include "media/call/audio_jitter_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

using namespace meshcast::media;

namespace {

constexpr uint32_t kFrame = 960;  // 20 ms at 48 kHz
constexpr int64_t kT0 = 1'000'000;

struct Arrival {
  int64_t t;
  uint16_t seq;
  uint32_t ts;
};

// Packet i sent at kT0 + 20 ms * i with seq base+i, ts tsbase+960*i.
Arrival pkt(int i, int64_t extra_delay_us = 0, uint16_t seq_base = 100, uint32_t ts_base = 5000) {
  return Arrival{kT0 + 20'000ll * i + extra_delay_us, static_cast<uint16_t>(seq_base + i),
                 ts_base + kFrame * static_cast<uint32_t>(i)};
}

std::vector<uint8_t> payload_for(uint16_t seq) { return {static_cast<uint8_t>(seq), 0xAB}; }

struct Sim {
  AudioJitterBuffer jb;
  std::vector<PlayoutDecision> out;
  explicit Sim(JitterBufferConfig c = {}) : jb(c) {}

  // Interleaves arrivals (sorted by time) with pops at the playout clock until end_us.
  void run(std::vector<Arrival> arr, int64_t end_us) {
    std::stable_sort(arr.begin(), arr.end(), [](auto& a, auto& b) { return a.t < b.t; });
    size_t i = 0;
    std::optional<int64_t> next_pop;
    while (true) {
      if (!next_pop) next_pop = jb.first_playout_us();
      const int64_t ta = i < arr.size() ? arr[i].t : INT64_MAX;
      const int64_t tp = next_pop ? *next_pop : INT64_MAX;
      const int64_t t = std::min(ta, tp);
      if (t > end_us) break;
      if (ta <= tp) {
        jb.insert(arr[i].seq, arr[i].ts, payload_for(arr[i].seq), kFrame, arr[i].t);
        ++i;
      } else {
        PlayoutDecision d = jb.pop(tp);
        next_pop = tp + int64_t(d.samples) * 1'000'000 / 48000;
        out.push_back(std::move(d));
      }
    }
  }
  size_t count(PlayoutKind k) const {
    return std::count_if(out.begin(), out.end(), [k](auto& d) { return d.kind == k; });
  }
};

std::vector<Arrival> stream(int n, std::initializer_list<int> lost = {}) {
  std::vector<Arrival> v;
  for (int i = 0; i < n; ++i)
    if (std::find(lost.begin(), lost.end(), i) == lost.end()) v.push_back(pkt(i));
  return v;
}

}  // namespace

TEST(AudioJitterBuffer, SilenceBeforeFirstPacket) {
  AudioJitterBuffer jb;
  EXPECT_FALSE(jb.first_playout_us().has_value());
  EXPECT_EQ(jb.pop(0).kind, PlayoutKind::Silence);
}

TEST(AudioJitterBuffer, CleanStreamPlaysEveryPacketAtMinimumTarget) {
  Sim s;
  s.run(stream(50), kT0 + 20'000 * 49 + 40'000);
  ASSERT_EQ(s.count(PlayoutKind::Normal), 50u);
  EXPECT_EQ(s.out.size(), 50u);
  for (size_t i = 0; i < s.out.size(); ++i) {
    EXPECT_EQ(s.out[i].rtp_timestamp, 5000 + kFrame * i);
    EXPECT_EQ(s.out[i].payload, payload_for(static_cast<uint16_t>(100 + i)));
  }
  EXPECT_EQ(s.jb.stats().target_us, 30'000);
  EXPECT_EQ(s.jb.stats().lag_us, 30'000);
}

TEST(AudioJitterBuffer, SingleLossIsRecoveredWithFecFromTheNextPacket) {
  Sim s;
  s.run(stream(20, {7}), kT0 + 20'000 * 19 + 40'000);
  ASSERT_EQ(s.out.size(), 20u);
  EXPECT_EQ(s.out[7].kind, PlayoutKind::Fec);
  EXPECT_EQ(s.out[7].payload, payload_for(108));  // decode packet 8 with decode_fec=1
  EXPECT_EQ(s.out[7].samples, kFrame);
  EXPECT_EQ(s.out[8].kind, PlayoutKind::Normal);
  EXPECT_EQ(s.out[8].payload, payload_for(108));
  auto st = s.jb.stats();
  EXPECT_EQ(st.frames_fec, 1u);
  EXPECT_EQ(st.frames_normal, 19u);
  EXPECT_EQ(st.frames_plc + st.frames_expand, 0u);
}

TEST(AudioJitterBuffer, BurstLossConcealsOnceThenRecoversTheSecondWithFec) {
  Sim s;
  s.run(stream(30, {10, 11}), kT0 + 20'000 * 29 + 40'000);
  auto st = s.jb.stats();
  // Frame 10: nothing buffered yet at its time -> stretch (concealment); frame 11 via FEC
  // from packet 12; the stretch is then caught up by skipping the already-concealed slot.
  EXPECT_EQ(st.frames_fec, 1u);
  EXPECT_EQ(st.frames_plc + st.frames_expand, 1u);
  EXPECT_EQ(st.frames_normal, 28u);
  EXPECT_EQ(st.frames_skipped, 1u);
  EXPECT_EQ(st.lag_us, 30'000);  // back at target
}

TEST(AudioJitterBuffer, LongerBurstUsesPlcForFramesWithoutFec) {
  Sim s;
  s.run(stream(40, {10, 11, 12, 13}), kT0 + 20'000 * 39 + 40'000);
  auto st = s.jb.stats();
  EXPECT_EQ(st.frames_fec, 1u);
  EXPECT_GE(st.frames_plc + st.frames_expand, 2u);
  EXPECT_EQ(st.frames_normal, 36u);
}

TEST(AudioJitterBuffer, ReorderedPacketsWithinTheBufferPlayInOrder) {
  std::vector<Arrival> v = stream(20);
  std::swap(v[5].t, v[6].t);  // 6 arrives before 5
  v[5].t += 5'000;
  Sim s;
  s.run(v, kT0 + 20'000 * 19 + 80'000);
  // All 20 packets are played from data, in timestamp order (the reorder counts as 20 ms of
  // jitter, so the buffer may stretch once to follow its raised target).
  EXPECT_EQ(s.jb.stats().frames_normal, 20u);
  EXPECT_EQ(s.jb.stats().packets_late, 0u);
  uint32_t expect = 5000;
  for (auto& d : s.out) {
    if (d.kind != PlayoutKind::Normal) continue;
    EXPECT_EQ(d.rtp_timestamp, expect);
    expect += kFrame;
  }
}

TEST(AudioJitterBuffer, LatePacketIsDiscardedAndItsSlotRecoveredByFec) {
  std::vector<Arrival> v = stream(20);
  v[5].t += 80'000;  // arrives long after its playout time (lag 30 ms)
  Sim s;
  s.run(v, kT0 + 20'000 * 19 + 40'000);
  auto st = s.jb.stats();
  EXPECT_EQ(st.packets_late, 1u);
  EXPECT_EQ(st.frames_fec, 1u);
  EXPECT_EQ(s.out[5].kind, PlayoutKind::Fec);
}

TEST(AudioJitterBuffer, DuplicatesAreCounted) {
  std::vector<Arrival> v = stream(10);
  v.push_back(Arrival{v[3].t + 1'000, v[3].seq, v[3].ts});
  Sim s;
  s.run(v, kT0 + 20'000 * 9 + 40'000);
  EXPECT_EQ(s.jb.stats().packets_duplicate, 1u);
  EXPECT_EQ(s.jb.stats().frames_normal, 10u);
}

TEST(AudioJitterBuffer, TimestampAndSequenceWrapAround) {
  std::vector<Arrival> v;
  for (int i = 0; i < 20; ++i) v.push_back(pkt(i, 0, 65530, 0xFFFFFFFFu - 5 * kFrame));
  Sim s;
  s.run(v, kT0 + 20'000 * 19 + 40'000);
  EXPECT_EQ(s.jb.stats().frames_normal, 20u);
  EXPECT_EQ(s.jb.stats().resets, 0u);
}

TEST(AudioJitterBuffer, TargetAdaptsToJitterAndStaysBounded) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> jitter(0, 40'000);
  std::vector<Arrival> v;
  for (int i = 0; i < 300; ++i) v.push_back(pkt(i, jitter(rng)));
  JitterBufferConfig cfg;
  Sim s(cfg);
  s.run(v, kT0 + 20'000 * 299 + 100'000);
  auto st = s.jb.stats();
  EXPECT_GT(st.target_us, 50'000);  // frame + p95 jitter (~38 ms) + margin
  EXPECT_LE(st.target_us, cfg.max_target_us);
  // Once adapted, nearly everything is played from data.
  size_t good = 0, total = 0;
  for (size_t i = 100; i < s.out.size(); ++i) {
    ++total;
    if (s.out[i].kind == PlayoutKind::Normal || s.out[i].kind == PlayoutKind::Fec) ++good;
  }
  EXPECT_GT(double(good) / total, 0.95);
}

TEST(AudioJitterBuffer, DelaySpikeIsAbsorbedThenTheLagShrinksBack) {
  std::vector<Arrival> v;
  for (int i = 0; i < 400; ++i)
    v.push_back(pkt(i, (i >= 50 && i < 55) ? 100'000 - (i - 50) * 20'000 : 0));
  Sim s;
  s.run(v, kT0 + 20'000 * 399 + 40'000);
  auto st = s.jb.stats();
  EXPECT_GT(st.frames_expand, 0u);   // waited for the delayed packets
  EXPECT_GT(st.frames_dropped, 0u);  // then shed the extra delay
  EXPECT_EQ(st.packets_late, 0u);
  EXPECT_LE(st.lag_us, st.target_us + 10'000);
}

TEST(AudioJitterBuffer, DtxGapIsNotCountedAsLoss) {
  std::vector<Arrival> v = stream(10);
  // Sender stops sending for 5 frames (DTX) but the sequence stays contiguous.
  for (int i = 15; i < 25; ++i) {
    Arrival a = pkt(i);
    a.seq = static_cast<uint16_t>(a.seq - 5);
    v.push_back(a);
  }
  Sim s;
  s.run(v, kT0 + 20'000 * 24 + 40'000);
  auto st = s.jb.stats();
  EXPECT_EQ(st.frames_plc, 0u);
  EXPECT_EQ(st.frames_fec, 0u);
  EXPECT_EQ(st.frames_expand, 0u);  // the stretch while waiting is reclassified as DTX
  EXPECT_GE(st.frames_dtx, 5u);
  EXPECT_EQ(st.frames_normal, 20u);
}

TEST(AudioJitterBuffer, StoppedStreamBecomesUncountedSilence) {
  Sim s;
  s.run(stream(10), kT0 + 20'000 * 9 + 2'000'000);
  auto st = s.jb.stats();
  EXPECT_EQ(st.frames_normal, 10u);
  EXPECT_LE(st.frames_expand, 30u);  // at most idle_after (500 ms) of stretching
  EXPECT_GT(s.count(PlayoutKind::Silence), 50u);
}

TEST(AudioJitterBuffer, TimestampJumpResetsTheBuffer) {
  std::vector<Arrival> v = stream(10);
  for (int i = 10; i < 20; ++i) v.push_back(pkt(i, 0, 100, 999'000'000));
  Sim s;
  s.run(v, kT0 + 20'000 * 19 + 40'000);
  EXPECT_EQ(s.jb.stats().resets, 1u);
}

TEST(AudioJitterBuffer, TenMillisecondFramesGetATwentyMillisecondFloor) {
  AudioJitterBuffer jb;
  for (int i = 0; i < 20; ++i)
    jb.insert(static_cast<uint16_t>(i), 480u * i, {1}, 480, kT0 + 10'000ll * i);
  EXPECT_EQ(jb.target_us(), 20'000);
  EXPECT_EQ(*jb.first_playout_us(), kT0 + 20'000);
  auto d = jb.pop(kT0 + 20'000);
  EXPECT_EQ(d.kind, PlayoutKind::Normal);
  EXPECT_EQ(d.samples, 480u);
}
