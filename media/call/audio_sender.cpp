#include "media/call/audio_sender.hpp"

#include <gst/app/gstappsink.h>
#include <opus.h>

#include <algorithm>

#include "media/common/gst_util.hpp"
#include "media/common/rtp.hpp"

namespace meshcast::media {
namespace {
constexpr int kRate = 48000;

std::string source_description(const std::string& spec, bool* is_file) {
  *is_file = false;
  if (spec == "device") return "autoaudiosrc";
  if (spec.rfind("test", 0) == 0) {
    std::string hz = spec.size() > 5 && spec[4] == ':' ? spec.substr(5) : "440";
    return "audiotestsrc is-live=true wave=sine volume=0.3 samplesperbuffer=480 freq=" +
           std::to_string(std::stod(hz));
  }
  if (spec.rfind("ticks", 0) == 0) {
    // Short 2 kHz clicks (10 periods = 5 ms) for delay measurement.
    double ms = spec.size() > 6 && spec[5] == ':' ? std::stod(spec.substr(6)) : 500.0;
    return "audiotestsrc is-live=true wave=ticks freq=2000 sine-periods-per-tick=10 "
           "volume=0.8 samplesperbuffer=480 tick-interval=" +
           std::to_string(static_cast<uint64_t>(ms * 1e6));
  }
  if (spec.rfind("file:", 0) == 0) {
    *is_file = true;
    return "filesrc name=fsrc ! wavparse";
  }
  return "";
}
}  // namespace

AudioSender::AudioSender(AudioSenderConfig cfg, GMainContext* ctx)
    : cfg_(std::move(cfg)),
      queue_(ctx),
      ssrc_(cfg_.ssrc ? cfg_.ssrc : g_random_int()),
      seq_(static_cast<uint16_t>(g_random_int())),
      ts_(g_random_int()),
      want_loss_(cfg_.expected_loss_pct),
      want_bitrate_(cfg_.bitrate_bps) {
  ensure_gst_init();
}

AudioSender::~AudioSender() {
  stop();
  queue_.close();
}

Expected<void, std::string> AudioSender::start() {
  if (running_) return {};
  if (cfg_.frame_ms != 10 && cfg_.frame_ms != 20)
    return unexpected("audio frame must be 10 or 20 ms");
  bool is_file = false;
  const std::string src = source_description(cfg_.source, &is_file);
  if (src.empty())
    return unexpected("unknown --audio-source '" + cfg_.source +
                      "' (device|test[:HZ]|file:PATH.wav)");
  int err = 0;
  enc_ = opus_encoder_create(kRate, 1, OPUS_APPLICATION_VOIP, &err);
  if (err != OPUS_OK) return unexpected(std::string("opus encoder: ") + opus_strerror(err));
  opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(cfg_.fec ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_DTX(cfg_.dtx ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  cur_loss_ = cur_bitrate_ = -1;  // applied on the first frame
  pending_.clear();
  after_dtx_ = true;

  // File sources are paced in real time by a syncing appsink; live sources by their clock.
  const std::string desc = src +
                           " ! audioconvert ! audioresample ! "
                           "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! "
                           "appsink name=sink emit-signals=true max-buffers=100 sync=" +
                           std::string(is_file ? "true" : "false");
  if (auto built = runner_.build(desc); !built) return built;
  if (is_file)
    g_object_set(runner_.element("fsrc").get(), "location", cfg_.source.substr(5).c_str(), nullptr);
  g_signal_connect(runner_.element("sink").get(), "new-sample",
                   G_CALLBACK(&AudioSender::on_new_sample), this);
  tap_ = static_cast<bool>(on_captured_);
  runner_.set_on_error([this](const std::string& e) {
    if (on_error_) on_error_(e);
  });
  runner_.set_on_eos([this] {
    if (on_eos_) on_eos_();
  });
  runner_.watch_bus(queue_.context());
  running_ = true;
  if (auto played = runner_.play("device or file unavailable"); !played) {
    stop();
    return unexpected("audio source failed to start (" + cfg_.source + "): " + played.error());
  }
  return {};
}

void AudioSender::stop() {
  runner_.stop();  // joins the streaming thread
  if (enc_) {
    opus_encoder_destroy(enc_);
    enc_ = nullptr;
  }
  running_ = false;
}

void AudioSender::set_expected_loss(int pct) { want_loss_ = std::clamp(pct, 0, 100); }
void AudioSender::set_bitrate(int bps) { want_bitrate_ = std::clamp(bps, 6000, 510000); }

GstFlowReturn AudioSender::on_new_sample(GstElement* sink, gpointer data) {
  auto* self = static_cast<AudioSender*>(data);
  GstSamplePtr sample(gst_app_sink_pull_sample(GST_APP_SINK(sink)));
  if (!sample) return GST_FLOW_EOS;
  GstBuffer* buf = gst_sample_get_buffer(sample.get());
  GstMapInfo map;
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    // Capture time of the first sample: base time + running time on the monotonic clock.
    const int64_t t =
        GST_BUFFER_PTS_IS_VALID(buf)
            ? running_time_to_monotonic_us(self->runner_.pipeline(), GST_BUFFER_PTS(buf))
            : monotonic_us();
    self->handle_pcm(reinterpret_cast<const int16_t*>(map.data), map.size / 2, t);
    gst_buffer_unmap(buf, &map);
  }
  return GST_FLOW_OK;
}

void AudioSender::handle_pcm(const int16_t* pcm, size_t n, int64_t first_sample_us) {
  if (tap_) {
    std::vector<int16_t> copy(pcm, pcm + n);
    queue_.post([this, copy = std::move(copy), first_sample_us] {
      if (running_ && on_captured_) on_captured_(copy, first_sample_us);
    });
  }
  if (pending_.empty()) pending_start_us_ = first_sample_us;
  pending_.insert(pending_.end(), pcm, pcm + n);
  const size_t frame = static_cast<size_t>(kRate / 1000 * cfg_.frame_ms);
  if (want_loss_ != cur_loss_) {
    cur_loss_ = want_loss_;
    opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(cur_loss_));
  }
  if (want_bitrate_ != cur_bitrate_) {
    cur_bitrate_ = want_bitrate_;
    opus_encoder_ctl(enc_, OPUS_SET_BITRATE(cur_bitrate_));
  }
  size_t off = 0;
  while (pending_.size() - off >= frame) {
    uint8_t out[1500];
    const int len = opus_encode(enc_, pending_.data() + off, static_cast<int>(frame), out,
                                static_cast<opus_int32>(sizeof(out)));
    const int64_t capture = pending_start_us_ + static_cast<int64_t>(off) * 1000000 / kRate;
    Encoded e{{}, ts_, capture, false};
    if (len > 2) {  // 1-2 byte packets mean "nothing to send" under DTX
      RtpHeader h;
      h.marker = after_dtx_;
      h.payload_type = cfg_.payload_type;
      h.sequence = seq_++;
      h.timestamp = ts_;
      h.ssrc = ssrc_;
      e.packet = build_rtp(h, std::span<const uint8_t>(out, static_cast<size_t>(len)));
      after_dtx_ = false;
    } else if (len > 0) {
      e.dtx = true;
      after_dtx_ = true;
    }
    ts_ += static_cast<uint32_t>(frame);
    off += frame;
    queue_.post([this, e = std::move(e)]() mutable { deliver(std::move(e)); });
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(off));
  pending_start_us_ += static_cast<int64_t>(off) * 1000000 / kRate;
}

void AudioSender::deliver(Encoded e) {
  if (!running_) return;
  ++stats_.frames_encoded;
  if (e.dtx) {
    ++stats_.frames_dtx;
    return;
  }
  ++stats_.packets_sent;
  stats_.bytes_sent += e.packet.size();
  capture_times_[e.rtp_ts] = e.capture_us;
  capture_order_.push_back(e.rtp_ts);
  if (capture_order_.size() > 1000) {
    capture_times_.erase(capture_order_.front());
    capture_order_.pop_front();
  }
  last_rtp_ts_ = e.rtp_ts;
  last_capture_us_ = e.capture_us;
  if (on_rtp_) on_rtp_(std::move(e.packet));
}

AudioSenderStats AudioSender::stats() const {
  AudioSenderStats s = stats_;
  s.expected_loss_pct = want_loss_;
  s.bitrate_bps = want_bitrate_;
  return s;
}

std::optional<int64_t> AudioSender::capture_time_us(uint32_t rtp_ts) const {
  auto it = capture_times_.find(rtp_ts);
  if (it == capture_times_.end()) return std::nullopt;
  return it->second;
}

SenderReport AudioSender::make_sender_report() const {
  SenderReport sr;
  sr.ssrc = ssrc_;
  sr.ntp = ntp_from_unix_us(g_get_real_time());
  const int64_t elapsed = monotonic_us() - last_capture_us_;
  sr.rtp_timestamp = last_rtp_ts_ + static_cast<uint32_t>(elapsed * kRate / 1000000);
  sr.packet_count = static_cast<uint32_t>(stats_.packets_sent);
  sr.octet_count = static_cast<uint32_t>(stats_.bytes_sent - stats_.packets_sent * 12);
  return sr;
}

std::optional<double> AudioSender::rtt_ms(const ReportBlock& block) const {
  return rtt_ms_from_report(block.lsr, block.dlsr, ntp_mid32(ntp_from_unix_us(g_get_real_time())));
}

}  // namespace meshcast::media
