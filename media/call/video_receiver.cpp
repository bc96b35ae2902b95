#include "media/call/video_receiver.hpp"

#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include "media/broadcast/frame_player.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/rtcp.hpp"
#include "media/common/rtp.hpp"

namespace meshcast::media {

VideoReceiver::VideoReceiver(VideoReceiverConfig cfg, GMainContext* ctx)
    : cfg_(std::move(cfg)),
      queue_(ctx),
      local_ssrc_(cfg_.local_ssrc ? cfg_.local_ssrc : g_random_int()) {
  ensure_gst_init();
}

VideoReceiver::~VideoReceiver() {
  stop();
  queue_.close();
}

Expected<void, std::string> VideoReceiver::start() {
  if (running_) return {};
  std::string display, file;
  if (cfg_.sink == "device") {
    // A known window sink, never autovideosink (it may pick a framebuffer sink that
    // crashes under X): the same choice as the broadcast viewer.
    auto sink = choose_video_sink();
    if (!sink) return unexpected("cannot open a video window: " + sink.error());
    display = *sink + " sync=true force-aspect-ratio=true";
  } else if (cfg_.sink == "null") {
    display = "fakesink sync=true";
  } else if (cfg_.sink.rfind("file:", 0) == 0) {
    display = "fakesink sync=false";
    file = " t. ! queue ! webmmux name=mux ! filesink name=fsink";
  } else {
    return unexpected("unknown --video-sink '" + cfg_.sink + "' (device|null|file:PATH.webm)");
  }
  const std::string desc =
      "appsrc name=src is-live=true format=time do-timestamp=true "
      "caps=\"application/x-rtp,media=(string)video,clock-rate=(int)90000,"
      "encoding-name=(string)VP8,payload=(int)" +
      std::to_string(cfg_.payload_type) +
      "\" ! rtpjitterbuffer name=jb do-lost=true latency=" + std::to_string(cfg_.latency_ms) +
      " ! rtpvp8depay request-keyframe=true wait-for-keyframe=true ! tee name=t "
      "t. ! queue ! vp8dec name=dec ! videoconvert ! " +
      display + file;
  if (auto built = runner_.build(desc); !built) return built;
  appsrc_ = runner_.element("src");
  if (!file.empty())
    g_object_set(runner_.element("fsink").get(), "location", cfg_.sink.substr(5).c_str(), nullptr);
  // Decoded frames, counted on the streaming thread.
  GstElementPtr dec = runner_.element("dec");
  auto* counter = new std::shared_ptr<std::atomic<uint64_t>>(frames_);
  gst_pad_add_probe(
      static_pad(dec.get(), "src").get(), GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo*, gpointer c) -> GstPadProbeReturn {
        ++**static_cast<std::shared_ptr<std::atomic<uint64_t>>*>(c);
        return GST_PAD_PROBE_OK;
      },
      counter, [](gpointer c) { delete static_cast<std::shared_ptr<std::atomic<uint64_t>>*>(c); });
  // The depayloader's keyframe requests (GstForceKeyUnit, upstream) surface at appsrc: PLI.
  gst_pad_add_probe(
      static_pad(appsrc_.get(), "src").get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
        GstEvent* ev = GST_PAD_PROBE_INFO_EVENT(info);
        if (ev && gst_video_event_is_force_key_unit(ev)) {
          auto* self = static_cast<VideoReceiver*>(data);
          self->queue_.post([self] {
            if (!self->running_) return;
            ++self->st_.keyframe_requests_from_depay;
            self->send_pli(monotonic_us());
          });
        }
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);
  runner_.set_on_error([this](const std::string& e) {
    if (on_error_) on_error_(e);
  });
  runner_.watch_bus(queue_.context());
  running_ = true;
  if (auto played = runner_.play("device or file unavailable"); !played) {
    stop();
    return unexpected("video sink failed to start (" + cfg_.sink + "): " + played.error());
  }
  timer_ = SourceGuard::timeout(20, &VideoReceiver::on_timer, this, queue_.context());
  last_frame_progress_us_ = monotonic_us();
  return {};
}

void VideoReceiver::stop() {
  timer_.reset();
  runner_.stop_with_eos(appsrc_.get(), 3000);
  appsrc_.reset();
  running_ = false;
}

void VideoReceiver::push_rtp(std::span<const uint8_t> packet) {
  if (!running_) return;
  auto h = parse_rtp(packet);
  if (!h || h->payload_type != cfg_.payload_type) {
    ++st_.packets_invalid;
    return;
  }
  const int64_t now = monotonic_us();
  if (!have_ssrc_ || (h->ssrc != remote_ssrc_ && now - last_packet_us_ > 1'000'000)) {
    have_ssrc_ = true;
    remote_ssrc_ = h->ssrc;
    nacks_ = NackTracker();
  } else if (h->ssrc != remote_ssrc_) {
    ++st_.packets_invalid;
    return;
  }
  last_packet_us_ = now;
  ++st_.packets_received;
  rx_.on_packet(h->sequence, h->timestamp, now);
  if (cfg_.nack && nacks_.on_packet(h->sequence, now)) send_pli(now);  // gap too big to NACK
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, packet.size(), nullptr);
  gst_buffer_fill(buf, 0, packet.data(), packet.size());
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_.get()), buf);  // takes the buffer
  if (cfg_.nack) send_nacks(now);
}

void VideoReceiver::send_nacks(int64_t now) {
  auto seqs = nacks_.due(now);
  if (seqs.empty()) return;
  ++st_.nack_packets_sent;
  st_.nack_seqs_requested += seqs.size();
  if (on_rtcp_feedback_) on_rtcp_feedback_(build_nack(Nack{local_ssrc_, remote_ssrc_, seqs}));
}

void VideoReceiver::send_pli(int64_t now) {
  if (!have_ssrc_ || now - last_pli_us_ < cfg_.pli_min_interval_us) return;
  last_pli_us_ = now;
  ++st_.plis_sent;
  if (on_rtcp_feedback_) on_rtcp_feedback_(build_pli(Pli{local_ssrc_, remote_ssrc_}));
}

gboolean VideoReceiver::on_timer(gpointer data) {
  auto* self = static_cast<VideoReceiver*>(data);
  const int64_t now = monotonic_us();
  if (self->cfg_.nack) self->send_nacks(now);
  const uint64_t frames = *self->frames_;
  if (frames != self->frames_at_last_check_) {
    self->frames_at_last_check_ = frames;
    self->last_frame_progress_us_ = now;
  } else if (self->have_ssrc_ && now - self->last_packet_us_ < 200'000 &&
             now - self->last_frame_progress_us_ > self->cfg_.stall_pli_after_us) {
    // Packets keep coming but nothing decodes (lost keyframe): keep asking, rate-limited.
    self->send_pli(now);
  }
  return G_SOURCE_CONTINUE;
}

std::optional<ReportBlock> VideoReceiver::make_report_block() {
  if (!have_ssrc_) return std::nullopt;
  return rx_.make_report_block(remote_ssrc_);
}

VideoReceiverStats VideoReceiver::stats() const {
  VideoReceiverStats s = st_;
  s.frames_decoded = *frames_;
  s.reception = rx_.stats();
  return s;
}

}  // namespace meshcast::media
