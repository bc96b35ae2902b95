#include "apps/session/webrtcbin_delay.hpp"

#include <gst/gst.h>

#include <atomic>
#include <mutex>

#include "media/common/audio_analysis.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/webrtc_leg.hpp"

namespace meshcast::app {
namespace {

using media::GstElementPtr;

struct Peers {
  GstElementPtr send;  // the two webrtcbins
  GstElementPtr recv;
  std::mutex m;  // taps run on streaming threads
  media::ClickDetector tx_clicks{48000}, rx_clicks{48000};
  std::vector<int64_t> sent, received;
  std::atomic<int64_t> first_media_us{0};
  std::string error;
  // Last: destroyed first, so both pipelines are NULL (streaming threads joined) before
  // anything their callbacks touch goes.
  media::PipelineRunner tx;  // sender pipeline
  media::PipelineRunner rx;  // receiver pipeline
  void fail(const std::string& e) {
    std::lock_guard<std::mutex> l(m);
    if (error.empty()) error = e;
  }
};

GstPadProbeReturn on_capture(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (buf && GST_BUFFER_PTS_IS_VALID(buf) && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    const int64_t t = media::running_time_to_monotonic_us(p->tx.pipeline(), GST_BUFFER_PTS(buf));
    std::lock_guard<std::mutex> l(p->m);
    for (int64_t on :
         p->tx_clicks.feed({reinterpret_cast<const int16_t*>(map.data), map.size / 2}, t))
      p->sent.push_back(on);
    gst_buffer_unmap(buf, &map);
  }
  return GST_PAD_PROBE_OK;
}

void on_render(GstElement*, GstBuffer* buf, GstPad*, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  const int64_t now = monotonic_us();  // fakesink sync=true renders now
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  std::lock_guard<std::mutex> l(p->m);
  for (int64_t on :
       p->rx_clicks.feed({reinterpret_cast<const int16_t*>(map.data), map.size / 2}, now))
    p->received.push_back(on);
  gst_buffer_unmap(buf, &map);
}

// The description is a boxed GstWebRTCSessionDescription inside the promise reply; it is
// passed on as an opaque pointer so no gstwebrtc library is linked.
gpointer reply_description(GstPromise* promise, const char* field) {
  const GstStructure* r = gst_promise_get_reply(promise);
  const GValue* v = r ? gst_structure_get_value(r, field) : nullptr;
  return v && G_VALUE_HOLDS_BOXED(v) ? g_value_get_boxed(v) : nullptr;
}

// A promise's creator hands its reference to the change function, which adopts it.
void on_answer(GstPromise* promise, gpointer data) {
  media::GstPromisePtr own(promise);
  auto* p = static_cast<Peers*>(data);
  if (gpointer desc = reply_description(promise, "answer")) {
    g_signal_emit_by_name(p->recv.get(), "set-local-description", desc, nullptr);
    g_signal_emit_by_name(p->send.get(), "set-remote-description", desc, nullptr);
  } else {
    p->fail("webrtcbin create-answer gave no answer");
  }
}

void on_offer(GstPromise* promise, gpointer data) {
  media::GstPromisePtr own(promise);
  auto* p = static_cast<Peers*>(data);
  if (gpointer desc = reply_description(promise, "offer")) {
    g_signal_emit_by_name(p->send.get(), "set-local-description", desc, nullptr);
    g_signal_emit_by_name(p->recv.get(), "set-remote-description", desc, nullptr);
    GstPromise* answer = gst_promise_new_with_change_func(&on_answer, p, nullptr);
    g_signal_emit_by_name(p->recv.get(), "create-answer", nullptr, answer);
  } else {
    p->fail("webrtcbin create-offer gave no offer");
  }
}

void on_negotiation_needed(GstElement* send, gpointer data) {
  GstPromise* offer = gst_promise_new_with_change_func(&on_offer, data, nullptr);
  g_signal_emit_by_name(send, "create-offer", nullptr, offer);
}

void on_send_candidate(GstElement*, guint mline, gchar* cand, gpointer data) {
  g_signal_emit_by_name(static_cast<Peers*>(data)->recv.get(), "add-ice-candidate", mline, cand);
}
void on_recv_candidate(GstElement*, guint mline, gchar* cand, gpointer data) {
  g_signal_emit_by_name(static_cast<Peers*>(data)->send.get(), "add-ice-candidate", mline, cand);
}

void on_recv_pad(GstElement*, GstPad* pad, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  media::GErrorPtr err;
  auto bin = media::adopt_floating<GstElementPtr>(
      gst_parse_bin_from_description("rtpopusdepay ! opusdec ! audioconvert ! audioresample ! "
                                     "audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
                                     "fakesink name=out sync=true signal-handoffs=true",
                                     TRUE, media::out_ptr(err)));
  if (!bin) {
    p->fail(std::string("receiver bin: ") + (err ? err->message : "?"));
    return;
  }
  g_signal_connect(media::bin_element(bin.get(), "out").get(), "handoff", G_CALLBACK(&on_render),
                   p);
  gst_bin_add(GST_BIN(p->rx.pipeline()), bin.get());  // the pipeline takes its own reference
  gst_element_sync_state_with_parent(bin.get());
  if (gst_pad_link(pad, media::static_pad(bin.get(), "sink").get()) != GST_PAD_LINK_OK)
    p->fail("cannot link webrtcbin output");
  p->first_media_us = monotonic_us();
}

// Errors end the run; LATENCY is handled as a pipeline would with a bus watch.
void drain_bus(GstElement* pipeline, Peers& p) {
  media::GstBusPtr bus = media::element_bus(pipeline);
  while (media::GstMessagePtr msg{gst_bus_pop(bus.get())}) {
    if (GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_ERROR) {
      media::GErrorPtr e = media::message_error(msg.get());
      p.fail(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg.get()))) + ": " +
             (e ? e->message : "?"));
    } else if (GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_LATENCY) {
      gst_bin_recalculate_latency(GST_BIN(pipeline));
    }
  }
}

}  // namespace

WebrtcbinDelayResult measure_webrtcbin_delay(double seconds, int tick_ms, double warmup_s) {
  WebrtcbinDelayResult res;
  media::ensure_gst_init();
  Peers p;
  const std::string tx_desc =
      "audiotestsrc is-live=true wave=ticks freq=2000 sine-periods-per-tick=10 volume=0.8 "
      "samplesperbuffer=480 tick-interval=" +
      std::to_string(int64_t(tick_ms) * 1'000'000) +
      " ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! identity name=cap "
      "! opusenc ! rtpopuspay pt=111 ! "
      "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! "
      "webrtcbin name=send bundle-policy=max-bundle";
  if (auto built = p.tx.build(tx_desc); !built) {
    res.error = std::move(built).error();
    return res;
  }
  // A one-element description would parse to the bare element, so this one is built by hand.
  p.rx.adopt(media::adopt_floating<GstElementPtr>(gst_pipeline_new("webrtcbin-rx")));
  p.recv = media::make_element("webrtcbin", "recv");
  if (!p.recv) {
    res.error = "no webrtcbin element (gstreamer1.0-plugins-bad)";
    return res;
  }
  gst_util_set_object_arg(G_OBJECT(p.recv.get()), "bundle-policy", "max-bundle");
  gst_bin_add(GST_BIN(p.rx.pipeline()), p.recv.get());  // the pipeline takes its own reference
  media::GstClockPtr clock(gst_system_clock_obtain());  // monotonic, like make_pipeline
  gst_pipeline_use_clock(GST_PIPELINE(p.rx.pipeline()), clock.get());
  p.send = p.tx.element("send");
  // Network rule: ICE gathers on 127.0.0.1 only (no STUN/TURN is set, so host candidates
  // only) and nothing else (UPnP) touches other interfaces.
  if (!media::restrict_ice(p.send.get(), {"127.0.0.1"}) ||
      !media::restrict_ice(p.recv.get(), {"127.0.0.1"}))
    p.fail("cannot restrict webrtcbin's ICE agent to 127.0.0.1");
  // One-way call: the sender's transceiver is sendonly (the receiver answers recvonly).
  if (media::GstPadPtr sp = media::static_pad(p.send.get(), "sink_0")) {
    GObject* tr = nullptr;
    g_object_get(sp.get(), "transceiver", &tr, nullptr);
    if (media::GObjectPtr<GObject> transceiver{tr})
      gst_util_set_object_arg(transceiver.get(), "direction", "sendonly");
  }
  media::add_src_buffer_probe(p.tx.pipeline(), "cap", &on_capture, &p);
  g_signal_connect(p.send.get(), "on-negotiation-needed", G_CALLBACK(&on_negotiation_needed), &p);
  g_signal_connect(p.send.get(), "on-ice-candidate", G_CALLBACK(&on_send_candidate), &p);
  g_signal_connect(p.recv.get(), "on-ice-candidate", G_CALLBACK(&on_recv_candidate), &p);
  g_signal_connect(p.recv.get(), "pad-added", G_CALLBACK(&on_recv_pad), &p);

  const int64_t t_start = monotonic_us();
  if (p.error.empty()) {
    gst_element_set_state(p.rx.pipeline(), GST_STATE_PLAYING);
    gst_element_set_state(p.tx.pipeline(), GST_STATE_PLAYING);
  }
  // Bounded: 10 s to get media flowing, then `seconds` of measurement.
  while (p.error.empty()) {
    g_usleep(50'000);
    drain_bus(p.tx.pipeline(), p);
    drain_bus(p.rx.pipeline(), p);
    const int64_t now = monotonic_us(), first = p.first_media_us;
    if (!first && now - t_start > 10'000'000) {
      p.fail("webrtcbin pair did not connect within 10 s");
      break;
    }
    if (first && now - first >= int64_t((warmup_s + seconds) * 1e6)) break;
  }
  p.tx.stop();
  p.rx.stop();
  g_signal_handlers_disconnect_by_data(p.send.get(), &p);
  g_signal_handlers_disconnect_by_data(p.recv.get(), &p);

  std::lock_guard<std::mutex> l(p.m);
  res.connected = p.first_media_us != 0;
  res.first_media_ms = res.connected ? (p.first_media_us - t_start) / 1e3 : 0;
  res.error = p.error;
  // Counted: clicks captured after the warm-up, and what was played after the first of them.
  const int64_t t0 = p.first_media_us + int64_t(warmup_s * 1e6);
  std::vector<int64_t> sent, recv;
  for (int64_t t : p.sent)
    if (t >= t0) sent.push_back(t);
  for (int64_t t : p.received)
    if (!sent.empty() && t >= sent.front()) recv.push_back(t);
  res.stats = media::summarize_delays(media::match_clicks(sent, recv, int64_t(tick_ms) * 900),
                                      sent.size(), recv.size());
  return res;
}

}  // namespace meshcast::app
