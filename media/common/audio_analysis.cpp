#include "media/common/audio_analysis.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace meshcast::media {
namespace {
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return p[0] | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
void put16(std::vector<uint8_t>& o, uint16_t v) {
  o.push_back(static_cast<uint8_t>(v));
  o.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& o, uint32_t v) {
  put16(o, static_cast<uint16_t>(v));
  put16(o, static_cast<uint16_t>(v >> 16));
}
}  // namespace

std::vector<int16_t> WavAudio::mono() const {
  if (channels <= 1) return samples;
  std::vector<int16_t> m;
  m.reserve(samples.size() / channels);
  for (size_t i = 0; i + channels <= samples.size(); i += channels) m.push_back(samples[i]);
  return m;
}

Expected<WavAudio, std::string> parse_wav(std::span<const uint8_t> b) {
  if (b.size() < 12 || std::memcmp(b.data(), "RIFF", 4) != 0 ||
      std::memcmp(b.data() + 8, "WAVE", 4) != 0)
    return unexpected("not a RIFF/WAVE file");
  WavAudio w;
  bool have_fmt = false;
  size_t off = 12;
  while (b.size() - off >= 8) {
    const uint8_t* c = b.data() + off;
    const uint32_t size = le32(c + 4);
    const size_t avail = b.size() - off - 8;
    if (std::memcmp(c, "fmt ", 4) == 0) {
      if (size < 16 || size > avail) return unexpected("fmt chunk too short");
      const uint16_t format = le16(c + 8);
      w.channels = le16(c + 10);
      w.sample_rate = le32(c + 12);
      const uint16_t bits = le16(c + 22);
      if ((format != 1 && format != 0xFFFE) || bits != 16 || w.channels == 0 || w.channels > 8 ||
          w.sample_rate == 0 || w.sample_rate > 384000)
        return unexpected("not 16-bit PCM with 1-8 channels at 1-384000 Hz");
      have_fmt = true;
    } else if (std::memcmp(c, "data", 4) == 0) {
      if (!have_fmt) return unexpected("data chunk before the fmt chunk");
      const size_t n = size > avail ? avail : size;  // tolerate an unfinished writer
      const size_t count = n / 2;
      w.samples.resize(count);
      for (size_t i = 0; i < count; ++i) w.samples[i] = static_cast<int16_t>(le16(c + 8 + 2 * i));
      return w;
    }
    if (size > avail) return unexpected("chunk runs past the end");
    off += 8 + size + (size & 1);  // chunks are word aligned
    if (off > b.size()) return unexpected("chunk runs past the end");
  }
  return unexpected("no data chunk");
}

Expected<WavAudio, std::string> read_wav_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return unexpected("cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_wav(bytes);
}

Expected<void, std::string> write_wav_file(const std::string& path, uint32_t rate,
                                           uint16_t channels, std::span<const int16_t> samples) {
  std::vector<uint8_t> o;
  const uint32_t data_bytes = static_cast<uint32_t>(samples.size() * 2);
  o.insert(o.end(), {'R', 'I', 'F', 'F'});
  put32(o, 36 + data_bytes);
  o.insert(o.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
  put32(o, 16);
  put16(o, 1);
  put16(o, channels);
  put32(o, rate);
  put32(o, rate * channels * 2);
  put16(o, static_cast<uint16_t>(channels * 2));
  put16(o, 16);
  o.insert(o.end(), {'d', 'a', 't', 'a'});
  put32(o, data_bytes);
  for (int16_t s : samples) put16(o, static_cast<uint16_t>(s));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return unexpected("cannot create " + path);
  const bool ok = std::fwrite(o.data(), 1, o.size(), f) == o.size();
  if (std::fclose(f) != 0 || !ok) return unexpected("cannot write " + path);
  return {};
}

double goertzel_power(std::span<const int16_t> x, uint32_t rate, double freq) {
  if (x.empty() || rate == 0) return 0.0;
  const double w = 2.0 * M_PI * freq / rate;
  const double coeff = 2.0 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (int16_t v : x) {
    const double s0 = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return power / (double(x.size()) * double(x.size()));
}

double dominant_frequency(std::span<const int16_t> x, uint32_t rate, double min_hz, double max_hz) {
  if (x.empty() || rate == 0) return 0.0;
  // Analyse up to 1 s taken from the middle: enough resolution, bounded cost.
  std::span<const int16_t> win = x;
  if (win.size() > rate) win = x.subspan((x.size() - rate) / 2, rate);
  double best_f = 0, best_p = 0;
  for (double f = min_hz; f <= max_hz; f += 10.0) {
    const double p = goertzel_power(win, rate, f);
    if (p > best_p) best_p = p, best_f = f;
  }
  if (best_p < 1.0) return 0.0;  // silence
  for (double f = best_f - 10.0; f <= best_f + 10.0; f += 1.0) {
    const double p = goertzel_power(win, rate, f);
    if (p > best_p) best_p = p, best_f = f;
  }
  return best_f;
}

double audible_fraction(std::span<const int16_t> x, uint32_t rate, double threshold_rms,
                        double window_ms) {
  const size_t w = static_cast<size_t>(rate * window_ms / 1000.0);
  if (w == 0 || x.size() < w) return 0.0;
  size_t windows = 0, audible = 0;
  for (size_t i = 0; i + w <= x.size(); i += w) {
    double sum = 0;
    for (size_t j = i; j < i + w; ++j) sum += double(x[j]) * x[j];
    ++windows;
    if (std::sqrt(sum / w) > threshold_rms) ++audible;
  }
  return double(audible) / windows;
}

std::vector<double> detect_clicks(std::span<const int16_t> x, uint32_t rate, int threshold,
                                  double min_gap_s) {
  ClickDetector d(rate, threshold, min_gap_s);
  std::vector<double> out;
  for (int64_t t : d.feed(x, 0)) out.push_back(t / 1e6);
  return out;
}

std::vector<int64_t> ClickDetector::feed(std::span<const int16_t> x, int64_t t0) {
  std::vector<int64_t> onsets;
  if (rate_ == 0) return onsets;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::abs(int(x[i])) < threshold_) continue;
    const int64_t t = t0 + static_cast<int64_t>(i) * 1000000 / rate_;
    if (t - last_loud_us_ >= min_gap_us_) onsets.push_back(t);
    last_loud_us_ = t;
  }
  return onsets;
}

}  // namespace meshcast::media
