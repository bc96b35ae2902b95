// VideoSender -> (loss) -> VideoReceiver in one process, real GStreamer.
#include <gst/pbutils/pbutils.h>
#include <gtest/gtest.h>

#include "loop_util.hpp"
#include "media/call/video_receiver.hpp"
#include "media/call/video_sender.hpp"
#include "media/common/gst_handle.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/rtcp.hpp"
#include "media/common/rtp.hpp"

using namespace meshcast::media;

namespace {
// Decodes a WebM file to the end; returns the number of video frames (or -1 on error).
int count_webm_frames(const std::string& path) {
  PipelineRunner p;  // NULL and released on every way out
  if (!p.build("filesrc name=f ! matroskademux ! vp8dec ! fakesink name=out")) return -1;
  g_object_set(p.element("f").get(), "location", path.c_str(), nullptr);
  int frames = 0;
  GstElementPtr out = p.element("out");
  g_object_set(out.get(), "signal-handoffs", TRUE, "sync", FALSE, nullptr);
  g_signal_connect(
      out.get(), "handoff",
      G_CALLBACK(+[](GstElement*, GstBuffer*, GstPad*, gpointer n) { ++*static_cast<int*>(n); }),
      &frames);
  gst_element_set_state(p.pipeline(), GST_STATE_PLAYING);
  GstBusPtr bus = element_bus(p.pipeline());
  GstMessagePtr m(gst_bus_timed_pop_filtered(bus.get(), 20 * GST_SECOND,
                                             GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  const bool ok = m && GST_MESSAGE_TYPE(m.get()) == GST_MESSAGE_EOS;
  p.stop();
  return ok ? frames : -1;
}

struct VideoRun {
  VideoSenderStats tx;
  VideoReceiverStats rx;
};

VideoRun run_video(const std::string& sink, int ms, double loss, uint32_t seed) {
  VideoSenderConfig sc;
  sc.width = 320;
  sc.height = 240;
  VideoSender tx(sc);
  VideoReceiverConfig rc;
  rc.sink = sink;
  VideoReceiver rx(rc);
  feed_with_loss(tx, rx, loss, seed);
  rx.set_on_rtcp_feedback([&](std::vector<uint8_t> fb) { tx.handle_rtcp(fb); });
  std::string gst_error;
  start_call(tx, rx, gst_error);
  run_main_loop_for(ms);
  tx.stop();
  run_main_loop_for(200);
  auto block = rx.make_report_block();
  EXPECT_TRUE(block);
  if (block) {
    EXPECT_EQ(block->ssrc, tx.ssrc());
  }
  rx.stop();
  EXPECT_EQ(gst_error, "");
  VideoRun r{tx.stats(), rx.stats()};
  std::printf(
      "[video %s loss=%.2f] sent=%llu resent=%llu received=%llu lost=%lld frames_decoded=%llu "
      "nacks=%llu (seqs %llu) plis=%llu (depay asked %llu) keyframes_forced=%llu\n",
      sink.c_str(), loss, (unsigned long long)r.tx.packets_sent,
      (unsigned long long)r.tx.packets_resent, (unsigned long long)r.rx.packets_received,
      (long long)r.rx.reception.cumulative_lost, (unsigned long long)r.rx.frames_decoded,
      (unsigned long long)r.rx.nack_packets_sent, (unsigned long long)r.rx.nack_seqs_requested,
      (unsigned long long)r.rx.plis_sent, (unsigned long long)r.rx.keyframe_requests_from_depay,
      (unsigned long long)r.tx.keyframes_forced);
  return r;
}
}  // namespace

TEST(VideoCall, TestSourceToWebmFileThatGStreamerCanOpen) {
  const std::string path = ::testing::TempDir() + "/meshcast_call_video.webm";
  std::remove(path.c_str());
  auto r = run_video("file:" + path, 3000, 0.0, 1);
  EXPECT_GT(r.rx.frames_decoded, 30u);  // ~90 frames at 30 fps over 3 s

  // Discoverer sees a video stream.
  GErrorPtr gerr;
  GObjectPtr<GstDiscoverer> disc(gst_discoverer_new(10 * GST_SECOND, out_ptr(gerr)));
  ASSERT_TRUE(disc);
  GCharPtr uri(gst_filename_to_uri(path.c_str(), nullptr));
  GObjectPtr<GstDiscovererInfo> info(
      gst_discoverer_discover_uri(disc.get(), uri.get(), out_ptr(gerr)));
  ASSERT_TRUE(info) << (gerr ? gerr->message : "");
  EXPECT_EQ(gst_discoverer_info_get_result(info.get()), GST_DISCOVERER_OK);
  GList* videos = gst_discoverer_info_get_video_streams(info.get());
  EXPECT_EQ(g_list_length(videos), 1u);
  if (videos) {
    auto* v = GST_DISCOVERER_VIDEO_INFO(videos->data);
    EXPECT_EQ(gst_discoverer_video_info_get_width(v), 320u);
    EXPECT_EQ(gst_discoverer_video_info_get_height(v), 240u);
  }
  gst_discoverer_stream_info_list_free(videos);
  // And the frames decode.
  const int frames = count_webm_frames(path);
  std::printf("[video] webm decoded frames=%d\n", frames);
  EXPECT_GT(frames, 30);
}

TEST(VideoCall, NackRetransmissionRepairsFivePercentLoss) {
  auto r = run_video("null", 3000, 0.05, 777);
  EXPECT_GT(r.rx.nack_packets_sent, 0u);
  EXPECT_GT(r.tx.packets_resent, 0u);
  EXPECT_GT(r.rx.frames_decoded, 30u);
}

// RFC 7741: VP8 payload descriptor, then the VP8 payload header whose P bit is 0 on keyframes.
bool is_vp8_keyframe_start(const std::vector<uint8_t>& pkt) {
  auto h = parse_rtp(pkt);
  if (!h || h->payload_size < 2) return false;
  auto p = rtp_payload(pkt, *h);
  size_t i = 0;
  const uint8_t b0 = p[i++];
  if (!(b0 & 0x10) || (b0 & 0x07) != 0) return false;  // S=1 and partition 0
  if (b0 & 0x80) {
    if (i >= p.size()) return false;
    const uint8_t x = p[i++];
    if (x & 0x80) {  // I: picture id, 1 or 2 bytes
      if (i >= p.size()) return false;
      i += (p[i] & 0x80) ? 2 : 1;
    }
    if (x & 0x40) ++i;  // L: TL0PICIDX
    if (x & 0x30) ++i;  // T/K: TID/KEYIDX
  }
  return i < p.size() && (p[i] & 0x01) == 0;
}

TEST(VideoCall, PliForcesAKeyframe) {
  VideoSenderConfig sc;
  sc.keyframe_max_dist = 300;  // no periodic keyframe during the test
  VideoSender tx(sc);
  int keyframes = 0, packets = 0;
  tx.set_on_rtp([&](std::vector<uint8_t> p) {
    ++packets;
    if (is_vp8_keyframe_start(p)) ++keyframes;
  });
  auto tx_started = tx.start();
  ASSERT_TRUE(tx_started) << tx_started.error();
  run_main_loop_for(500);
  EXPECT_EQ(keyframes, 1);                           // the first frame only
  tx.handle_rtcp(build_pli(Pli{1, tx.ssrc() + 1}));  // not for us: ignored
  run_main_loop_for(300);
  EXPECT_EQ(keyframes, 1);
  tx.handle_rtcp(build_pli(Pli{1, tx.ssrc()}));
  run_main_loop_for(300);
  EXPECT_EQ(tx.stats().keyframes_forced, 1u);
  EXPECT_EQ(keyframes, 2);
  EXPECT_GT(packets, 20);
  tx.stop();
}
