// Real GStreamer + libopus, no network: AudioSender.on_rtp feeds AudioReceiver.push_rtp in
// one process, optionally through a seeded 10 % loss simulator.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "loop_util.hpp"
#include "media/call/audio_receiver.hpp"
#include "media/call/audio_sender.hpp"
#include "media/call/delay_meter.hpp"
#include "media/common/audio_analysis.hpp"

using namespace meshcast::media;

namespace {
struct CallResult {
  AudioSenderStats tx;
  AudioReceiverStats rx;
  meshcast::Expected<WavAudio, std::string> wav;
};

CallResult run_call(const std::string& wav_path, int ms, double loss, uint32_t seed,
                    int frame_ms = 20) {
  AudioSenderConfig sc;
  sc.source = "test:440";
  sc.frame_ms = frame_ms;
  AudioSender tx(sc);
  AudioReceiverConfig rc;
  rc.sink = "file:" + wav_path;
  AudioReceiver rx(rc);
  feed_with_loss(tx, rx, loss, seed);
  std::string gst_error;
  start_call(tx, rx, gst_error);
  run_main_loop_for(ms);
  tx.stop();
  // Stop the receiver at once: waiting would only add stretch frames after the stream ended
  // (the last ~30-60 ms still buffered are not needed for the checks).
  rx.stop();
  EXPECT_EQ(gst_error, "");
  return CallResult{tx.stats(), rx.stats(), read_wav_file(wav_path)};
}

// wavenc writes placeholder sizes first and the real ones at EOS: check the header agrees
// with the file length (read_wav_file alone would also accept an unfinalized file).
void expect_finalized_wav(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_TRUE(f);
  std::vector<uint8_t> b(1 << 22);
  b.resize(std::fread(b.data(), 1, b.size(), f));
  std::fclose(f);
  ASSERT_GE(b.size(), 44u);
  auto le32 = [&](size_t at) {
    return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 |
           uint32_t(b[at + 3]) << 24;
  };
  EXPECT_EQ(le32(4), b.size() - 8) << "RIFF size not finalized";
  for (size_t off = 12; off + 8 <= b.size(); off += 8 + le32(off + 4)) {
    if (std::memcmp(&b[off], "data", 4) == 0) {
      EXPECT_EQ(le32(off + 4), b.size() - off - 8) << "data size not finalized";
      return;
    }
  }
  ADD_FAILURE() << "no data chunk";
}

void print(const char* name, const CallResult& r) {
  const auto& j = r.rx.jitter;
  std::printf(
      "[%s] sent=%llu received=%llu lost=%lld | frames normal=%llu fec=%llu plc=%llu "
      "expand=%llu dropped=%llu skipped=%llu late=%llu | data_fraction=%.3f target=%.1f ms "
      "lag=%.1f ms jitter(rfc3550)=%.2f ms\n",
      name, (unsigned long long)r.tx.packets_sent,
      (unsigned long long)r.rx.reception.packets_received,
      (long long)r.rx.reception.cumulative_lost, (unsigned long long)j.frames_normal,
      (unsigned long long)j.frames_fec, (unsigned long long)j.frames_plc,
      (unsigned long long)j.frames_expand, (unsigned long long)j.frames_dropped,
      (unsigned long long)j.frames_skipped, (unsigned long long)j.packets_late,
      r.rx.data_fraction(), j.target_us / 1000.0, j.lag_us / 1000.0, r.rx.reception.jitter_ms);
}
}  // namespace

TEST(AudioCall, TestToneArrivesAs440HzAndIsAudible) {
  const std::string path = ::testing::TempDir() + "/meshcast_call_clean.wav";
  auto r = run_call(path, 3000, 0.0, 1);
  print("clean", r);
  ASSERT_TRUE(r.wav) << "WAV not written";
  expect_finalized_wav(path);
  EXPECT_EQ(r.wav->sample_rate, 48000u);
  const auto mono = r.wav->mono();
  EXPECT_GT(r.wav->duration_s(), 2.5);
  EXPECT_NEAR(dominant_frequency(mono, 48000), 440.0, 5.0);
  EXPECT_GE(audible_fraction(mono, 48000, 300.0), 0.90);
  EXPECT_GT(r.tx.packets_sent, 100u);
  EXPECT_EQ(r.rx.reception.cumulative_lost, 0);
  EXPECT_EQ(r.rx.packets_invalid, 0u);
  // Not 1.0: on a loaded 2-core machine scheduling stalls make the buffer stretch (expand).
  EXPECT_GE(r.rx.data_fraction(), 0.90);
}

TEST(AudioCall, TenPercentLossIsCoveredByFecAndConcealment) {
  const std::string path = ::testing::TempDir() + "/meshcast_call_loss.wav";
  auto r = run_call(path, 5000, 0.10, 12345);
  print("loss10", r);
  const auto& j = r.rx.jitter;
  EXPECT_GT(r.rx.reception.cumulative_lost, 10);
  EXPECT_GT(j.frames_fec, 0u);  // FEC actually recovered frames
  EXPECT_GE(r.rx.data_fraction(), 0.90);
  ASSERT_TRUE(r.wav);
  const auto mono = r.wav->mono();
  EXPECT_NEAR(dominant_frequency(mono, 48000), 440.0, 5.0);
  EXPECT_GE(audible_fraction(mono, 48000, 300.0), 0.90);
}

TEST(AudioCall, TenMillisecondFrames) {
  const std::string path = ::testing::TempDir() + "/meshcast_call_10ms.wav";
  auto r = run_call(path, 2000, 0.0, 1, 10);
  print("10ms", r);
  EXPECT_GT(r.tx.packets_sent, 150u);  // 100 packets per second
  ASSERT_TRUE(r.wav);
  EXPECT_NEAR(dominant_frequency(r.wav->mono(), 48000), 440.0, 5.0);
}

TEST(AudioCall, WavFileSourceIsPacedAndDelivered) {
  // Generate a 1.5 s 1 kHz tone file and send it.
  const std::string in = ::testing::TempDir() + "/meshcast_src.wav";
  const std::string out = ::testing::TempDir() + "/meshcast_src_out.wav";
  std::vector<int16_t> s(48000 * 3 / 2);
  for (size_t i = 0; i < s.size(); ++i)
    s[i] = int16_t(8000 * std::sin(2 * M_PI * 1000 * i / 48000.0));
  ASSERT_TRUE(write_wav_file(in, 48000, 1, s));
  AudioSenderConfig sc;
  sc.source = "file:" + in;
  AudioSender tx(sc);
  AudioReceiverConfig rc;
  rc.sink = "file:" + out;
  AudioReceiver rx(rc);
  bool eos = false;
  tx.set_on_eos([&] { eos = true; });
  tx.set_on_rtp([&](std::vector<uint8_t> p) { rx.push_rtp(p); });
  auto rx_started = rx.start();
  ASSERT_TRUE(rx_started) << rx_started.error();
  auto tx_started = tx.start();
  ASSERT_TRUE(tx_started) << tx_started.error();
  const gint64 t0 = g_get_monotonic_time();
  run_main_loop_for(5000, [&] { return eos; });
  const double elapsed = (g_get_monotonic_time() - t0) / 1e6;
  EXPECT_TRUE(eos);
  EXPECT_GT(elapsed, 1.2);  // paced in real time, not as fast as possible
  run_main_loop_for(150);
  tx.stop();
  rx.stop();
  auto w = read_wav_file(out);
  ASSERT_TRUE(w);
  EXPECT_NEAR(dominant_frequency(w->mono(), 48000), 1000.0, 5.0);
  EXPECT_GT(w->duration_s(), 1.3);
}

TEST(AudioCall, MouthToEarDelayIsMeasured) {
  DelayBenchOptions o;
  o.seconds = 4.0;
  auto d = measure_delay(o);
  std::printf("[delay] clicks sent=%zu received=%zu matched=%zu p50=%.1f ms p95=%.1f ms\n",
              d.clicks_sent, d.clicks_received, d.delays_ms.size(), d.p50_ms, d.p95_ms);
  EXPECT_GE(d.clicks_sent, 5u);
  EXPECT_GE(d.delays_ms.size(), 5u);
  EXPECT_GT(d.p50_ms, 0.0);
}

TEST(AudioCall, RtcpReportsCarryLossAndRtt) {
  AudioSenderConfig sc;
  AudioSender tx(sc);
  AudioReceiver rx(AudioReceiverConfig{});
  int n = 0;
  tx.set_on_rtp([&](std::vector<uint8_t> p) {
    if (++n % 5 != 0) rx.push_rtp(p);  // 20 % loss
  });
  auto rx_started = rx.start();
  ASSERT_TRUE(rx_started) << rx_started.error();
  auto tx_started = tx.start();
  ASSERT_TRUE(tx_started) << tx_started.error();
  run_main_loop_for(1000);
  auto sr_bytes = build_sr(tx.make_sender_report());
  auto sr = parse_rtcp(sr_bytes);
  ASSERT_TRUE(sr);
  rx.on_sender_report(std::get<SenderReport>((*sr)[0]));
  run_main_loop_for(100);
  auto rr = parse_rtcp(build_rr(rx.make_receiver_report(0x1234)));
  ASSERT_TRUE(rr);
  const auto& block = std::get<ReceiverReport>((*rr)[0]).reports.at(0);
  EXPECT_EQ(block.ssrc, tx.ssrc());
  EXPECT_NEAR(block.fraction_lost / 256.0, 0.2, 0.05);
  auto rtt = tx.rtt_ms(block);
  ASSERT_TRUE(rtt);
  EXPECT_LT(*rtt, 50.0);  // functional sanity: same process, DLSR accounts for the 100 ms hold
  tx.set_expected_loss(20);
  EXPECT_EQ(tx.stats().expected_loss_pct, 20);
  tx.stop();
  rx.stop();
}

TEST(AudioCall, DtxStopsSendingDuringSilenceAndIsNotCountedAsLoss) {
  AudioSenderConfig sc;
  sc.source = "test:0";  // a 0 Hz sine: digital silence
  sc.dtx = true;
  AudioSender tx(sc);
  AudioReceiver rx(AudioReceiverConfig{});
  tx.set_on_rtp([&](std::vector<uint8_t> p) { rx.push_rtp(p); });
  auto rx_started = rx.start();
  ASSERT_TRUE(rx_started) << rx_started.error();
  auto tx_started = tx.start();
  ASSERT_TRUE(tx_started) << tx_started.error();
  run_main_loop_for(2000);
  tx.stop();
  rx.stop();
  const auto s = tx.stats();
  const auto r = rx.stats();
  std::printf("[dtx] encoded=%llu sent=%llu dtx=%llu | rx dtx frames=%llu plc=%llu lost=%lld\n",
              (unsigned long long)s.frames_encoded, (unsigned long long)s.packets_sent,
              (unsigned long long)s.frames_dtx, (unsigned long long)r.jitter.frames_dtx,
              (unsigned long long)r.jitter.frames_plc, (long long)r.reception.cumulative_lost);
  EXPECT_GT(s.frames_dtx, s.frames_encoded / 2);  // most silent frames are not sent
  EXPECT_GT(s.packets_sent, 0u);                  // but the encoder still refreshes noise
  EXPECT_EQ(r.reception.cumulative_lost, 0);      // sequence numbers stay contiguous
  EXPECT_EQ(r.jitter.frames_plc, 0u);
}
