// Audio analysis for tests and benchmarks: a bounds-checked 16-bit PCM WAV reader, dominant
// frequency (Goertzel scan), audible fraction over 20 ms windows, click onset detection and
// a streaming click detector for mouth-to-ear delay measurement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct WavAudio {
  uint32_t sample_rate = 0;
  uint16_t channels = 0;
  std::vector<int16_t> samples;  // interleaved
  // First channel only, as a convenience for analysis.
  std::vector<int16_t> mono() const;
  double duration_s() const {
    return sample_rate && channels ? double(samples.size()) / channels / sample_rate : 0.0;
  }
};

// Parses a RIFF/WAVE file with a PCM (format 1 or WAVE_FORMAT_EXTENSIBLE) 16-bit "fmt " chunk
// and a "data" chunk, or says what is malformed or unsupported. A data chunk whose size runs
// past the end (a writer that was killed) is truncated to the bytes present.
Expected<WavAudio, std::string> parse_wav(std::span<const uint8_t> bytes);
Expected<WavAudio, std::string> read_wav_file(const std::string& path);

// Writes a mono or interleaved 16-bit PCM WAV (used to generate click files for benchmarks).
Expected<void, std::string> write_wav_file(const std::string& path, uint32_t sample_rate,
                                           uint16_t channels, std::span<const int16_t> samples);

// Power of one frequency over the samples (Goertzel), normalised by length.
double goertzel_power(std::span<const int16_t> samples, uint32_t rate, double freq_hz);

// Dominant frequency in [min_hz, max_hz] over the whole signal, found by a coarse Goertzel scan
// over windows (step_hz) refined to 1 Hz around the peak. Returns 0 for silence.
double dominant_frequency(std::span<const int16_t> samples, uint32_t rate, double min_hz = 50,
                          double max_hz = 4000);

// Fraction of whole 20 ms windows whose RMS is above threshold_rms (in sample units).
double audible_fraction(std::span<const int16_t> samples, uint32_t rate,
                        double threshold_rms = 500.0, double window_ms = 20.0);

// Click onsets in seconds: a sample whose magnitude crosses threshold after at least
// min_gap_s of quiet.
std::vector<double> detect_clicks(std::span<const int16_t> samples, uint32_t rate,
                                  int threshold = 8000, double min_gap_s = 0.2);

// Streaming version: feed consecutive blocks with the absolute time (µs, any clock) of their
// first sample; returns onset times in the same clock.
class ClickDetector {
 public:
  explicit ClickDetector(uint32_t rate, int threshold = 8000, double min_gap_s = 0.2)
      : rate_(rate), threshold_(threshold), min_gap_us_(static_cast<int64_t>(min_gap_s * 1e6)) {}
  std::vector<int64_t> feed(std::span<const int16_t> samples, int64_t first_sample_us);

 private:
  uint32_t rate_;
  int threshold_;
  int64_t min_gap_us_;
  int64_t last_loud_us_ = INT64_MIN / 2;
};

}  // namespace meshcast::media
