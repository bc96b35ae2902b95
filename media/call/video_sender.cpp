#include "media/call/video_sender.hpp"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include <variant>

#include "media/common/gst_util.hpp"
#include "media/common/rtcp.hpp"
#include "media/common/rtp.hpp"

namespace meshcast::media {

VideoSender::VideoSender(VideoSenderConfig cfg, GMainContext* ctx)
    : cfg_(std::move(cfg)), queue_(ctx), ssrc_(cfg_.ssrc ? cfg_.ssrc : g_random_int()) {
  ensure_gst_init();
}

VideoSender::~VideoSender() {
  stop();
  queue_.close();
}

Expected<void, std::string> VideoSender::start() {
  if (running_) return {};
  std::string src;
  if (cfg_.source == "test") {
    src = "videotestsrc is-live=true pattern=ball";
  } else if (cfg_.source == "device") {
    src = "v4l2src ! videoconvert ! videoscale ! videorate";
  } else {
    return unexpected("unknown --video-source '" + cfg_.source + "' (device|test)");
  }
  const std::string caps = "video/x-raw,width=" + std::to_string(cfg_.width) +
                           ",height=" + std::to_string(cfg_.height) +
                           ",framerate=" + std::to_string(cfg_.fps) + "/1";
  const std::string desc =
      src + " ! " + caps +
      " ! videoconvert ! vp8enc name=enc deadline=1 lag-in-frames=0 error-resilient=default "
      "keyframe-max-dist=" +
      std::to_string(cfg_.keyframe_max_dist) +
      " cpu-used=8 end-usage=cbr threads=1 target-bitrate=" + std::to_string(cfg_.bitrate_bps) +
      " ! rtpvp8pay name=pay picture-id-mode=15-bit pt=" + std::to_string(cfg_.payload_type) +
      " mtu=" + std::to_string(cfg_.mtu) + " ssrc=" + std::to_string(ssrc_) +
      " ! appsink name=sink emit-signals=true sync=false max-buffers=500";
  if (auto built = runner_.build(desc); !built) return built;
  encoder_ = runner_.element("enc");
  g_signal_connect(runner_.element("sink").get(), "new-sample",
                   G_CALLBACK(&VideoSender::on_new_sample), this);
  runner_.set_on_error([this](const std::string& e) {
    if (on_error_) on_error_(e);
  });
  runner_.watch_bus(queue_.context());
  running_ = true;
  if (auto played = runner_.play("device or file unavailable"); !played) {
    stop();
    return unexpected("video source failed to start (" + cfg_.source + "): " + played.error());
  }
  return {};
}

void VideoSender::stop() {
  runner_.stop();
  encoder_.reset();
  running_ = false;
}

void VideoSender::set_bitrate(int bps) {
  if (encoder_) g_object_set(encoder_.get(), "target-bitrate", bps, nullptr);
}

void VideoSender::request_keyframe() {
  if (!encoder_) return;
  // An upstream event sent to the element reaches its src pad: the encoder handles it.
  gst_element_send_event(encoder_.get(),
                         gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  ++st_.keyframes_forced;
}

void VideoSender::resend(const std::vector<uint16_t>& seqs) {
  for (uint16_t s : seqs) {
    auto it = history_.find(s);
    if (it == history_.end()) {
      ++st_.resend_misses;
      continue;
    }
    ++st_.packets_resent;
    st_.bytes_sent += it->second.size();
    if (on_rtp_) on_rtp_(it->second);  // same SSRC and seq: the jitter buffer slots it in
  }
}

void VideoSender::handle_rtcp(std::span<const uint8_t> rtcp) {
  auto pkts = parse_rtcp(rtcp);
  if (!pkts) return;
  for (const auto& p : *pkts) {
    if (auto* n = std::get_if<Nack>(&p); n && n->media_ssrc == ssrc_) resend(n->seqs);
    if (auto* pli = std::get_if<Pli>(&p); pli && pli->media_ssrc == ssrc_) request_keyframe();
  }
}

GstFlowReturn VideoSender::on_new_sample(GstElement* sink, gpointer data) {
  auto* self = static_cast<VideoSender*>(data);
  GstSamplePtr sample(gst_app_sink_pull_sample(GST_APP_SINK(sink)));
  if (!sample) return GST_FLOW_EOS;
  GstBuffer* buf = gst_sample_get_buffer(sample.get());
  GstMapInfo map;
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    std::vector<uint8_t> pkt(map.data, map.data + map.size);
    gst_buffer_unmap(buf, &map);
    self->queue_.post([self, pkt = std::move(pkt)]() mutable { self->deliver(std::move(pkt)); });
  }
  return GST_FLOW_OK;
}

void VideoSender::deliver(std::vector<uint8_t> pkt) {
  if (!running_) return;
  auto h = parse_rtp(pkt);
  if (!h) return;
  ++st_.packets_sent;
  st_.bytes_sent += pkt.size();
  if (history_.emplace(h->sequence, pkt).second)
    history_order_.push_back(h->sequence);
  else
    history_[h->sequence] = pkt;
  while (history_order_.size() > cfg_.history_packets) {
    history_.erase(history_order_.front());
    history_order_.pop_front();
  }
  if (on_rtp_) on_rtp_(std::move(pkt));
}

}  // namespace meshcast::media
