#include "media/call/audio_receiver.hpp"

#include <gst/app/gstappsrc.h>
#include <opus.h>

#include "media/common/gst_util.hpp"
#include "media/common/rtp.hpp"
#include "mesh/base/time.hpp"

namespace meshcast::media {
namespace {
constexpr int kRate = 48000;
constexpr int kMaxFrame = 5760;  // 120 ms at 48 kHz
}  // namespace

AudioReceiver::AudioReceiver(AudioReceiverConfig cfg, GMainContext* ctx)
    : cfg_(std::move(cfg)), queue_(ctx), jb_(cfg_.jitter) {
  ensure_gst_init();
}

AudioReceiver::~AudioReceiver() {
  stop();
  queue_.close();
}

Expected<void, std::string> AudioReceiver::start() {
  if (running_) return {};
  std::string sink;
  null_sink_ = false;
  if (cfg_.sink == "device") {
    sink = "autoaudiosink";
  } else if (cfg_.sink == "null") {
    sink = "fakesink name=out sync=true signal-handoffs=true";
    null_sink_ = true;
  } else if (cfg_.sink.rfind("file:", 0) == 0) {
    sink = "wavenc ! filesink name=fsink";
  } else {
    return unexpected("unknown --audio-sink '" + cfg_.sink + "' (device|null|file:PATH.wav)");
  }
  int err = 0;
  dec_ = opus_decoder_create(kRate, 1, &err);
  if (err != OPUS_OK) return unexpected(std::string("opus decoder: ") + opus_strerror(err));
  const std::string desc =
      "appsrc name=src is-live=true format=time do-timestamp=false "
      "caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! "
      "audioconvert ! audioresample ! " +
      sink;
  if (auto built = runner_.build(desc); !built) return built;
  appsrc_ = runner_.element("src");
  g_object_set(appsrc_.get(), "min-latency", static_cast<gint64>(cfg_.output_latency_us * 1000),
               "max-latency", static_cast<gint64>(cfg_.output_latency_us * 1000), nullptr);
  if (!null_sink_ && cfg_.sink != "device")
    g_object_set(runner_.element("fsink").get(), "location", cfg_.sink.substr(5).c_str(), nullptr);
  if (null_sink_)
    g_signal_connect(runner_.element("out").get(), "handoff",
                     G_CALLBACK(&AudioReceiver::on_handoff), this);
  tap_ = static_cast<bool>(on_played_);
  runner_.set_on_error([this](const std::string& e) {
    if (on_error_) on_error_(e);
  });
  runner_.watch_bus(queue_.context());
  if (auto played = runner_.play("device or file unavailable"); !played) {
    running_ = true;
    stop();
    return unexpected("audio sink failed to start (" + cfg_.sink + "): " + played.error());
  }
  running_ = true;
  return {};
}

void AudioReceiver::stop() {
  tick_.reset();
  runner_.stop_with_eos(appsrc_.get(), 3000);
  appsrc_.reset();
  if (dec_) {
    opus_decoder_destroy(dec_);
    dec_ = nullptr;
  }
  running_ = false;
  clock_running_ = false;
}

void AudioReceiver::push_rtp(std::span<const uint8_t> packet) {
  if (!running_) return;
  const int64_t now = monotonic_us();
  auto h = parse_rtp(packet);
  if (!h || h->payload_type != cfg_.payload_type) {
    ++st_.packets_invalid;
    return;
  }
  if (!have_ssrc_ || (h->ssrc != remote_ssrc_ && now - last_packet_us_ > 1'000'000)) {
    // First stream, or the old one has been silent for a second (peer restarted): follow it.
    if (have_ssrc_) {
      jb_.reset();
      rx_ = ReceiveStatistics(kRate);
      opus_decoder_ctl(dec_, OPUS_RESET_STATE);
    }
    have_ssrc_ = true;
    remote_ssrc_ = h->ssrc;
  } else if (h->ssrc != remote_ssrc_) {
    ++st_.packets_invalid;
    return;
  }
  auto payload = rtp_payload(packet, *h);
  const int samples = payload.empty()
                          ? -1
                          : opus_packet_get_nb_samples(
                                payload.data(), static_cast<opus_int32>(payload.size()), kRate);
  if (samples <= 0 || samples > kMaxFrame) {
    ++st_.packets_invalid;
    return;
  }
  last_packet_us_ = now;
  rx_.on_packet(h->sequence, h->timestamp, now);
  jb_.insert(h->sequence, h->timestamp, std::vector<uint8_t>(payload.begin(), payload.end()),
             static_cast<uint32_t>(samples), now);
  if (!clock_running_) {
    clock_running_ = true;
    next_due_us_ = *jb_.first_playout_us();
    schedule_tick();
  }
}

void AudioReceiver::schedule_tick() {
  tick_.reset();
  const auto ms = static_cast<guint>(ms_until(next_due_us_, monotonic_us()));
  tick_ = SourceGuard::timeout(ms, &AudioReceiver::on_tick, this, queue_.context());
}

gboolean AudioReceiver::on_tick(gpointer data) {
  auto* self = static_cast<AudioReceiver*>(data);
  const int64_t now = monotonic_us();
  // If the main loop stalled for a long time, do not burst: restart the clock from now.
  if (now - self->next_due_us_ > 200'000) self->next_due_us_ = now;
  int guard = 0;
  while (self->next_due_us_ <= now && guard++ < 20) self->play_one(self->next_due_us_);
  self->schedule_tick();
  return G_SOURCE_REMOVE;  // schedule_tick attached a fresh one-shot source
}

void AudioReceiver::play_one(int64_t due_us) {
  PlayoutDecision d = jb_.pop(due_us);
  const uint32_t samples = d.samples ? d.samples : 960;
  next_due_us_ = due_us + static_cast<int64_t>(samples) * 1'000'000 / kRate;
  const int64_t play_us = due_us + cfg_.output_latency_us;
  if (on_frame_) on_frame_(d.rtp_timestamp, play_us, d.kind);
  if (d.kind == PlayoutKind::Silence) return;
  std::vector<int16_t> pcm(kMaxFrame);
  int n = 0;
  const auto len = static_cast<opus_int32>(d.payload.size());
  switch (d.kind) {
    case PlayoutKind::Normal:
      n = opus_decode(dec_, d.payload.data(), len, pcm.data(), kMaxFrame, 0);
      break;
    case PlayoutKind::Fec:
      n = opus_decode(dec_, d.payload.data(), len, pcm.data(), static_cast<int>(samples), 1);
      break;
    default:  // PLC / expand / DTX comfort noise
      n = opus_decode(dec_, nullptr, 0, pcm.data(), static_cast<int>(samples), 0);
      break;
  }
  if (n < 0) {
    ++st_.decode_errors;
    n = opus_decode(dec_, nullptr, 0, pcm.data(), static_cast<int>(samples), 0);
    if (n < 0) return;
  }
  pcm.resize(static_cast<size_t>(n));
  ++st_.frames_played;
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, pcm.size() * 2, nullptr);
  gst_buffer_fill(buf, 0, pcm.data(), pcm.size() * 2);
  // Timestamp on the shared monotonic clock: running time = due - base_time. The sink plays
  // it at running time + pipeline latency (output_latency_us).
  const int64_t base_us =
      static_cast<int64_t>(gst_element_get_base_time(runner_.pipeline()) / 1000);
  GST_BUFFER_PTS(buf) = static_cast<GstClockTime>(std::max<int64_t>(0, due_us - base_us)) * 1000;
  GST_BUFFER_DURATION(buf) = static_cast<GstClockTime>(n) * GST_SECOND / kRate;
  if (tap_ && !null_sink_ && on_played_) on_played_(pcm, play_us);
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_.get()), buf);  // takes the buffer
}

void AudioReceiver::on_handoff(GstElement*, GstBuffer* buf, GstPad*, gpointer data) {
  auto* self = static_cast<AudioReceiver*>(data);
  if (!self->tap_) return;
  const int64_t now = monotonic_us();  // fakesink(sync=true) renders now: the "ear" moment
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  std::vector<int16_t> pcm(reinterpret_cast<const int16_t*>(map.data),
                           reinterpret_cast<const int16_t*>(map.data) + map.size / 2);
  gst_buffer_unmap(buf, &map);
  self->queue_.post([self, pcm = std::move(pcm), now] {
    if (self->running_ && self->on_played_) self->on_played_(pcm, now);
  });
}

AudioReceiverStats AudioReceiver::stats() const {
  AudioReceiverStats s = st_;
  s.jitter = jb_.stats();
  s.reception = rx_.stats();
  return s;
}

void AudioReceiver::on_sender_report(const SenderReport& sr) {
  lsr_ = ntp_mid32(sr.ntp);
  lsr_arrival_us_ = monotonic_us();
}

ReceiverReport AudioReceiver::make_receiver_report(uint32_t local_ssrc) {
  ReceiverReport rr;
  rr.ssrc = local_ssrc;
  if (!have_ssrc_) return rr;
  uint32_t dlsr = 0;
  if (lsr_) dlsr = static_cast<uint32_t>((monotonic_us() - lsr_arrival_us_) * 65536 / 1'000'000);
  rr.reports.push_back(rx_.make_report_block(remote_ssrc_, lsr_, dlsr));
  return rr;
}

}  // namespace meshcast::media
