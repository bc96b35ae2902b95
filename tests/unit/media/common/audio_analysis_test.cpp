#include "media/common/audio_analysis.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

using namespace meshcast::media;

namespace {
std::vector<int16_t> sine(double hz, double seconds, uint32_t rate = 48000, double amp = 10000) {
  std::vector<int16_t> v(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int16_t>(amp * std::sin(2 * M_PI * hz * i / rate));
  return v;
}
std::vector<uint8_t> wav_bytes(const std::vector<int16_t>& s, uint32_t rate = 48000) {
  const std::string path = ::testing::TempDir() + "/aa_test.wav";
  EXPECT_TRUE(write_wav_file(path, rate, 1, s));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::vector<uint8_t> b(44 + s.size() * 2);
  EXPECT_EQ(std::fread(b.data(), 1, b.size(), f), b.size());
  std::fclose(f);
  return b;
}
}  // namespace

TEST(AudioAnalysis, DominantFrequencyOfGeneratedSines) {
  for (double hz : {220.0, 440.0, 1000.0, 3000.0}) {
    auto s = sine(hz, 0.5);
    EXPECT_NEAR(dominant_frequency(s, 48000), hz, 2.0) << hz;
  }
  auto s16 = sine(440, 1.0, 16000);
  EXPECT_NEAR(dominant_frequency(s16, 16000), 440, 2.0);
  std::vector<int16_t> quiet(48000, 0);
  EXPECT_EQ(dominant_frequency(quiet, 48000), 0.0);
}

TEST(AudioAnalysis, AudibleFractionCountsLoudWindows) {
  auto s = sine(440, 1.0);
  for (size_t i = 0; i < s.size() / 4; ++i) s[i] = 0;  // first quarter silent
  EXPECT_NEAR(audible_fraction(s, 48000), 0.75, 0.03);
}

TEST(AudioAnalysis, ClickOnsets) {
  std::vector<int16_t> s(48000 * 2, 0);
  for (double at : {0.1, 0.6, 1.35})
    for (int i = 0; i < 240; ++i) s[size_t(at * 48000) + i] = (i % 2 ? 20000 : -20000);
  auto c = detect_clicks(s, 48000);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_NEAR(c[0], 0.1, 1e-4);
  EXPECT_NEAR(c[1], 0.6, 1e-4);
  EXPECT_NEAR(c[2], 1.35, 1e-4);
  // Streaming detector in two blocks with absolute time.
  ClickDetector d(48000);
  auto a = d.feed(std::span(s).first(40000), 1'000'000);
  auto b = d.feed(std::span(s).subspan(40000), 1'000'000 + 40000ll * 1'000'000 / 48000);
  ASSERT_EQ(a.size() + b.size(), 3u);
  EXPECT_NEAR(double(b.back()), 1'000'000 + 1.35e6, 30);
}

TEST(AudioAnalysis, WavRoundTrip) {
  auto s = sine(440, 0.1);
  auto w = parse_wav(wav_bytes(s));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->sample_rate, 48000u);
  EXPECT_EQ(w->channels, 1);
  EXPECT_EQ(w->samples, s);
  EXPECT_NEAR(w->duration_s(), 0.1, 1e-6);
}

TEST(AudioAnalysis, WavMalformedInputIsRejected) {
  const auto good = wav_bytes(sine(440, 0.01));
  auto mutate = [&](size_t at, uint8_t v) {
    auto b = good;
    b[at] = v;
    return b;
  };
  std::vector<std::vector<uint8_t>> bad = {
      {},
      std::vector<uint8_t>(good.begin(), good.begin() + 11),  // shorter than RIFF header
      mutate(0, 'X'),                                         // not RIFF
      mutate(8, 'X'),                                         // not WAVE
      mutate(20, 3),                                          // float format
      mutate(34, 8),                                          // 8-bit samples
      mutate(22, 0),                                          // zero channels
      mutate(16, 200),                                        // fmt chunk larger than file
      std::vector<uint8_t>(good.begin(), good.begin() + 30),  // truncated fmt
      std::vector<uint8_t>(good.begin(), good.begin() + 36),  // no data chunk
  };
  auto no_fmt = good;
  std::copy_n("junk", 4, no_fmt.begin() + 12);  // data without fmt: fmt renamed to junk
  bad.push_back(no_fmt);
  for (size_t i = 0; i < bad.size(); ++i) {
    auto r = parse_wav(bad[i]);
    ASSERT_FALSE(r) << "case " << i;
    EXPECT_FALSE(r.error().empty()) << "case " << i;  // says why
  }
  // Unfinalized writer: data size larger than the file is truncated, not rejected.
  auto trunc = good;
  trunc.resize(good.size() - 10);
  auto w = parse_wav(trunc);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->samples.size(), (good.size() - 10 - 44) / 2);
}
