#include "apps/session/webrtcbin_delay.hpp"

#include <gst/gst.h>

#include <atomic>
#include <mutex>

#include "media/common/audio_analysis.hpp"
#include "media/common/gst_util.hpp"

namespace meshcast::app {
namespace {

struct Peers {
  GstElement* tx = nullptr;  // sender pipeline
  GstElement* rx = nullptr;  // receiver pipeline
  GstElement* send = nullptr;
  GstElement* recv = nullptr;
  std::mutex m;  // taps run on streaming threads
  media::ClickDetector tx_clicks{48000}, rx_clicks{48000};
  std::vector<int64_t> sent, received;
  std::atomic<int64_t> first_media_us{0};
  std::string error;
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
    const int64_t t = media::running_time_to_monotonic_us(p->tx, GST_BUFFER_PTS(buf));
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

void on_answer(GstPromise* promise, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  if (gpointer desc = reply_description(promise, "answer")) {
    g_signal_emit_by_name(p->recv, "set-local-description", desc, nullptr);
    g_signal_emit_by_name(p->send, "set-remote-description", desc, nullptr);
  } else {
    p->fail("webrtcbin create-answer gave no answer");
  }
  gst_promise_unref(promise);
}

void on_offer(GstPromise* promise, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  if (gpointer desc = reply_description(promise, "offer")) {
    g_signal_emit_by_name(p->send, "set-local-description", desc, nullptr);
    g_signal_emit_by_name(p->recv, "set-remote-description", desc, nullptr);
    GstPromise* answer = gst_promise_new_with_change_func(&on_answer, p, nullptr);
    g_signal_emit_by_name(p->recv, "create-answer", nullptr, answer);
  } else {
    p->fail("webrtcbin create-offer gave no offer");
  }
  gst_promise_unref(promise);
}

void on_negotiation_needed(GstElement* send, gpointer data) {
  GstPromise* offer = gst_promise_new_with_change_func(&on_offer, data, nullptr);
  g_signal_emit_by_name(send, "create-offer", nullptr, offer);
}

void on_send_candidate(GstElement*, guint mline, gchar* cand, gpointer data) {
  g_signal_emit_by_name(static_cast<Peers*>(data)->recv, "add-ice-candidate", mline, cand);
}
void on_recv_candidate(GstElement*, guint mline, gchar* cand, gpointer data) {
  g_signal_emit_by_name(static_cast<Peers*>(data)->send, "add-ice-candidate", mline, cand);
}

void on_recv_pad(GstElement*, GstPad* pad, gpointer data) {
  auto* p = static_cast<Peers*>(data);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  GError* err = nullptr;
  GstElement* bin = gst_parse_bin_from_description(
      "rtpopusdepay ! opusdec ! audioconvert ! audioresample ! "
      "audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
      "fakesink name=out sync=true signal-handoffs=true",
      TRUE, &err);
  if (!bin) {
    p->fail(std::string("receiver bin: ") + (err ? err->message : "?"));
    g_clear_error(&err);
    return;
  }
  GstElement* out = gst_bin_get_by_name(GST_BIN(bin), "out");
  g_signal_connect(out, "handoff", G_CALLBACK(&on_render), p);
  gst_object_unref(out);
  gst_bin_add(GST_BIN(p->rx), bin);
  gst_element_sync_state_with_parent(bin);
  GstPad* sink = gst_element_get_static_pad(bin, "sink");
  if (gst_pad_link(pad, sink) != GST_PAD_LINK_OK) p->fail("cannot link webrtcbin output");
  gst_object_unref(sink);
  p->first_media_us = monotonic_us();
}

// Network rule: ICE gathers on 127.0.0.1 only (no STUN/TURN is set, so host candidates only)
// and nothing else (UPnP) touches other interfaces.
bool restrict_to_loopback(GstElement* webrtcbin) {
  GObject* ice = nullptr;
  g_object_get(webrtcbin, "ice-agent", &ice, nullptr);
  if (!ice) return false;
  gboolean ok = FALSE;
  if (g_signal_lookup("add-local-ip-address", G_OBJECT_TYPE(ice)))
    g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &ok);
  // libnice's UPnP IGD is on by default: it would send SSDP multicast on every interface.
  GObject* agent = nullptr;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "agent"))
    g_object_get(ice, "agent", &agent, nullptr);
  if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp"))
    g_object_set(agent, "upnp", FALSE, nullptr);
  else
    ok = FALSE;
  if (agent) g_object_unref(agent);
  g_object_unref(ice);
  return ok;
}

// Errors end the run; LATENCY is handled as a pipeline would with a bus watch.
void drain_bus(GstElement* pipeline, Peers& p) {
  GstBus* bus = gst_element_get_bus(pipeline);
  while (GstMessage* msg = gst_bus_pop(bus)) {
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      p.fail(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + (e ? e->message : "?"));
      g_clear_error(&e);
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_LATENCY) {
      gst_bin_recalculate_latency(GST_BIN(pipeline));
    }
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
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
  p.tx = media::make_pipeline(tx_desc, &res.error);
  if (!p.tx) return res;
  // A one-element description would parse to the bare element, so this one is built by hand.
  p.rx = gst_pipeline_new("webrtcbin-rx");
  p.recv = gst_element_factory_make("webrtcbin", "recv");
  if (!p.recv) {
    res.error = "no webrtcbin element (gstreamer1.0-plugins-bad)";
    gst_object_unref(p.rx);
    gst_object_unref(p.tx);
    return res;
  }
  gst_util_set_object_arg(G_OBJECT(p.recv), "bundle-policy", "max-bundle");
  gst_bin_add(GST_BIN(p.rx), GST_ELEMENT(gst_object_ref(p.recv)));
  GstClock* clock = gst_system_clock_obtain();  // monotonic, like make_pipeline
  gst_pipeline_use_clock(GST_PIPELINE(p.rx), clock);
  gst_object_unref(clock);
  p.send = gst_bin_get_by_name(GST_BIN(p.tx), "send");
  if (!restrict_to_loopback(p.send) || !restrict_to_loopback(p.recv))
    p.fail("cannot restrict webrtcbin's ICE agent to 127.0.0.1");
  // One-way call: the sender's transceiver is sendonly (the receiver answers recvonly).
  if (GstPad* sp = gst_element_get_static_pad(p.send, "sink_0")) {
    GObject* tr = nullptr;
    g_object_get(sp, "transceiver", &tr, nullptr);
    if (tr) {
      gst_util_set_object_arg(tr, "direction", "sendonly");
      g_object_unref(tr);
    }
    gst_object_unref(sp);
  }
  GstElement* cap = gst_bin_get_by_name(GST_BIN(p.tx), "cap");
  GstPad* cap_src = gst_element_get_static_pad(cap, "src");
  gst_pad_add_probe(cap_src, GST_PAD_PROBE_TYPE_BUFFER, &on_capture, &p, nullptr);
  gst_object_unref(cap_src);
  gst_object_unref(cap);
  g_signal_connect(p.send, "on-negotiation-needed", G_CALLBACK(&on_negotiation_needed), &p);
  g_signal_connect(p.send, "on-ice-candidate", G_CALLBACK(&on_send_candidate), &p);
  g_signal_connect(p.recv, "on-ice-candidate", G_CALLBACK(&on_recv_candidate), &p);
  g_signal_connect(p.recv, "pad-added", G_CALLBACK(&on_recv_pad), &p);

  const int64_t t_start = monotonic_us();
  if (p.error.empty()) {
    gst_element_set_state(p.rx, GST_STATE_PLAYING);
    gst_element_set_state(p.tx, GST_STATE_PLAYING);
  }
  // Bounded: 10 s to get media flowing, then `seconds` of measurement.
  while (p.error.empty()) {
    g_usleep(50'000);
    drain_bus(p.tx, p);
    drain_bus(p.rx, p);
    const int64_t now = monotonic_us(), first = p.first_media_us;
    if (!first && now - t_start > 10'000'000) {
      p.fail("webrtcbin pair did not connect within 10 s");
      break;
    }
    if (first && now - first >= int64_t((warmup_s + seconds) * 1e6)) break;
  }
  gst_element_set_state(p.tx, GST_STATE_NULL);
  gst_element_set_state(p.rx, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data(p.send, &p);
  g_signal_handlers_disconnect_by_data(p.recv, &p);
  gst_object_unref(p.send);
  gst_object_unref(p.recv);
  gst_object_unref(p.tx);
  gst_object_unref(p.rx);

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
