// The browser side of the WHIP/WHEP tests, proven on its own: headless Chromium with fake
// camera and microphone connects two peer connections in one page (in a namespace with only
// `lo`, when `ip netns` works here) and decodes; the WHIP and WHEP pages load, send a
// well-formed offer to their endpoint and report the endpoint's refusal; the report server
// keeps to its bounds.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/common/chromium.hpp"
#include "tests/integration/common/webrtc_pages.hpp"

using namespace meshcast::testing;
using nlohmann::json;

namespace {

#define SKIP_WITHOUT_CHROMIUM()                                                  \
  do {                                                                           \
    if (!ChromiumProcess::available())                                           \
      GTEST_SKIP() << ChromiumProcess::kBinary                                   \
                   << " is missing or does not run (Debian's chromium package; " \
                   << "bash scripts/install-deps.sh installs it)";               \
  } while (0)

// A private GMainContext, as a test running its own loop would have.
struct Context {
  GMainContext* ctx = g_main_context_new();
  ~Context() {
    while (g_main_context_pending(ctx)) g_main_context_iteration(ctx, FALSE);
    g_main_context_unref(ctx);
  }
};

double num(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
}

// The payload types of the first m=video line, in order, and the rtpmap of each.
std::vector<std::string> video_codecs(const std::string& sdp) {
  std::vector<std::string> out;
  std::smatch m;
  if (!std::regex_search(sdp, m, std::regex(R"(m=video \d+ [A-Z/]+ ([0-9 ]+))"))) return out;
  std::istringstream pts(m[1].str());
  for (std::string pt; pts >> pt;) {
    std::smatch r, f;
    std::string name = "?";
    if (std::regex_search(sdp, r, std::regex("a=rtpmap:" + pt + " ([^/\r\n]+)"))) name = r[1];
    if (std::regex_search(sdp, f, std::regex("a=fmtp:" + pt + " ([^\r\n]+)")))
      name += " " + f[1].str();
    out.push_back(name);
  }
  return out;
}

}  // namespace

TEST(ChromiumHarness, LoopbackCallDecodesVideoAndAudio) {
  SKIP_WITHOUT_CHROMIUM();
  std::string version;
  ChromiumProcess::available(&version);
  Context c;
  // In a namespace with only `lo` when possible: nothing but loopback candidates, as the
  // WHIP/WHEP tests will have. Otherwise the host namespace (its interfaces too).
  std::string why_not;
  std::unique_ptr<LoopbackNetns> ns;
  if (LoopbackNetns::usable(&why_not)) {
    ns = std::make_unique<LoopbackNetns>("chromium");
    ASSERT_TRUE(ns->ok()) << ns->error();
  }
  const std::string netns = ns ? ns->name() : "";
  std::cout << version << ", "
            << (ns ? "in namespace " + netns : "in the host namespace (" + why_not + ")")
            << std::endl;

  PageReportServer server(c.ctx);
  ASSERT_TRUE(server.start("127.0.0.1", 0, netns)) << server.error();
  server.add_page("/loopback.html", kLoopbackPage);

  ChromiumOptions opt;
  opt.netns = netns;
  ChromiumProcess browser;
  ASSERT_TRUE(browser.start(server.url("/loopback.html?tag=loopback"), opt));
  double connected_s = 0;
  auto decoding = [&] {
    auto r = server.last("loopback");
    if (!r) return false;
    if (r->value("state", "") == "connected" && connected_s == 0)
      connected_s = browser.seconds_since_start();
    if (r->contains("error") && !(*r)["error"].is_null()) return true;  // fails below
    const json& in = (*r)["inbound"];
    return num(in["video"], "framesDecoded") > 0 && num(in["audio"], "totalSamplesReceived") > 0;
  };
  const bool done = run_until(c.ctx, decoding, 20000);
  const double decoding_s = browser.seconds_since_start();
  ASSERT_TRUE(done && server.last("loopback")) << "no decoding report within 20 s\n"
                                               << server.dump() << "chromium log:\n"
                                               << browser.log_tail();
  const json r = *server.last("loopback");
  EXPECT_TRUE(r["error"].is_null()) << r.dump(2);
  EXPECT_EQ(r["state"], "connected");
  EXPECT_GT(num(r["inbound"]["video"], "framesDecoded"), 0) << r.dump(2);
  EXPECT_GT(num(r["inbound"]["audio"], "totalSamplesReceived"), 0) << r.dump(2);
  // Inside the lo-only namespace every candidate is a loopback one.
  if (ns)
    for (const auto& cand : r["candidates"]) {
      const std::string s = cand.get<std::string>();
      EXPECT_TRUE(s.find(" 127.0.0.1:") != std::string::npos ||
                  s.find(" ::1:") != std::string::npos)
          << s;
    }
  std::cout << "connected after " << connected_s << " s, decoding after " << decoding_s
            << " s; last report:\n"
            << r.dump(1) << std::endl;
  browser.stop();
  EXPECT_FALSE(browser.running());
}

// The WHIP and WHEP pages against endpoints that record the request and refuse it: the
// pages load (no syntax error), build their offers (H264 first when asked, the bearer
// token), and report the refusal and stop.
TEST(ChromiumHarness, WhipAndWhepPagesOfferAndReportRefusals) {
  SKIP_WITHOUT_CHROMIUM();
  Context c;
  std::string why_not;
  std::unique_ptr<LoopbackNetns> ns;
  if (LoopbackNetns::usable(&why_not)) ns = std::make_unique<LoopbackNetns>("chromium");
  const std::string netns = ns && ns->ok() ? ns->name() : "";

  PageReportServer server(c.ctx);
  ASSERT_TRUE(server.start("127.0.0.1", 0, netns)) << server.error();
  server.add_page("/publish.html", kWhipPublishPage);
  server.add_page("/play.html", kWhepPlayPage);
  std::vector<PageReportServer::Request> whip, whep;
  server.add_handler("/whip", [&](const PageReportServer::Request& rq) {
    whip.push_back(rq);
    return PageReportServer::Response{403, "text/plain", "no publishing today", {}};
  });
  server.add_handler("/whep", [&](const PageReportServer::Request& rq) {
    whep.push_back(rq);
    return PageReportServer::Response{404, "text/plain", "no such stream", {}};
  });

  ChromiumOptions opt;
  opt.netns = netns;
  ChromiumProcess publisher, player, bare;
  ASSERT_TRUE(publisher.start(
      server.url("/publish.html?whip=" + server.url("/whip") + "&token=secret-1&codec=H264"), opt));
  ASSERT_TRUE(player.start(server.url("/play.html?whep=/whep&token=tok-2&detect=1"), opt));
  // No ?whip=: the page says what is missing.
  ASSERT_TRUE(bare.start(server.url("/publish.html?tag=bare"), opt));
  auto stopped = [&](const char* tag) {
    auto r = server.last(tag);
    return r && r->value("stopped", false);
  };
  const bool done = run_until(
      c.ctx, [&] { return stopped("publish") && stopped("play") && stopped("bare"); }, 30000);
  ASSERT_TRUE(done) << server.dump() << "publisher log:\n"
                    << publisher.log_tail(3000) << "\nplayer log:\n"
                    << player.log_tail(3000);

  const json pub = *server.last("publish");
  EXPECT_EQ(pub["http_status"], 403) << pub.dump(2);
  EXPECT_NE(pub["error"].get<std::string>().find("no publishing today"), std::string::npos);
  EXPECT_TRUE(pub["warnings"].empty()) << pub.dump(2);
  ASSERT_EQ(whip.size(), 1u);
  EXPECT_EQ(whip[0].method, "POST");
  EXPECT_EQ(whip[0].headers["content-type"], "application/sdp");
  EXPECT_EQ(whip[0].headers["authorization"], "Bearer secret-1");
  auto codecs = video_codecs(whip[0].body);
  ASSERT_FALSE(codecs.empty()) << whip[0].body;
  EXPECT_EQ(codecs[0].rfind("H264 ", 0), 0u) << codecs[0];
  EXPECT_NE(codecs[0].find("packetization-mode=1"), std::string::npos) << codecs[0];
  EXPECT_NE(whip[0].body.find("a=sendonly"), std::string::npos);
  EXPECT_NE(whip[0].body.find("m=audio"), std::string::npos);
  EXPECT_NE(whip[0].body.find("a=candidate:"), std::string::npos) << "gathering not waited for";

  const json play = *server.last("play");
  EXPECT_EQ(play["http_status"], 404) << play.dump(2);
  ASSERT_EQ(whep.size(), 1u);
  EXPECT_EQ(whep[0].headers["authorization"], "Bearer tok-2");
  EXPECT_NE(whep[0].body.find("a=recvonly"), std::string::npos);
  EXPECT_NE(whep[0].body.find("m=video"), std::string::npos);

  const json bare_r = *server.last("bare");
  EXPECT_EQ(bare_r["error"], "missing ?whip=URL") << bare_r.dump(2);
  EXPECT_EQ(server.rejected(), 0u) << server.dump();
  std::cout << "WHIP offer video codecs: " << codecs[0]
            << (codecs.size() > 1 ? ", " + codecs[1] : "") << " ...\npublish report: " << pub.dump()
            << std::endl;
}

// A stand-in for the WHIP/WHEP server: a page that takes the offers the test queues
// (GET /pending), answers each in its own peer connection (receiving what is sent, sending a
// painted canvas + fake mic where the offer only receives) and POSTs the answer to
// /answer?id=N. Its paint changes are reported like the publish page's.
const char* kAnswererPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"></head><body><canvas id="c" width="320" height="240"></canvas>
<script>
'use strict';
const now = () => performance.timeOrigin + performance.now();
const S = { loaded: true, error: null, paint: [], sessions: [] };
const post = (url, body, type) => fetch(url, { method: 'POST', headers: { 'Content-Type': type }, body }).catch(() => {});
const report = async () => {
  const r = { t: now(), loaded: true, error: S.error, paint: S.paint.slice(-200), sessions: [] };
  for (const s of S.sessions) {
    const e = { id: s.id, state: s.pc.connectionState, error: s.error, video: null, audio: null, sent: null };
    try {
      (await s.pc.getStats()).forEach(x => {
        if (x.type === 'inbound-rtp' && x.kind === 'video') e.video = { framesDecoded: x.framesDecoded || 0, w: x.frameWidth || 0 };
        if (x.type === 'inbound-rtp' && x.kind === 'audio') e.audio = { totalSamplesReceived: x.totalSamplesReceived || 0 };
        if (x.type === 'outbound-rtp' && x.kind === 'video') e.sent = { framesEncoded: x.framesEncoded || 0 };
      });
    } catch (err) { e.error = String(err); }
    r.sessions.push(e);
  }
  post('/report?tag=answerer', JSON.stringify(r), 'application/json');
};
window.addEventListener('error', ev => { S.error = String(ev.error || ev.message); });
window.addEventListener('unhandledrejection', ev => { S.error = String(ev.reason); });
const PALETTE = [['red', '#ff0000'], ['green', '#00ff00'], ['blue', '#0000ff'], ['white', '#ffffff']];
const g = document.getElementById('c').getContext('2d');
let i = 0, fill = '#000000';
const change = () => { const [n, css] = PALETTE[i++ % PALETTE.length]; fill = css; g.fillStyle = fill; g.fillRect(0, 0, 320, 240);
                       S.paint.push({ t: now(), colour: n }); if (S.paint.length > 200) S.paint.shift(); };
change();
setInterval(change, 500);
setInterval(() => { g.fillStyle = fill; g.fillRect(0, 0, 320, 240); }, 66);
let media = null;
async function getMedia() {
  if (!media) {
    const a = await navigator.mediaDevices.getUserMedia({ audio: true });
    const v = document.getElementById('c').captureStream(15);
    media = { audio: a.getAudioTracks()[0], video: v.getVideoTracks()[0] };
  }
  return media;
}
async function answer(offer) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const s = { id: offer.id, pc, error: null };
  S.sessions.push(s);
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    const dirs = {};
    for (const sec of offer.sdp.split(/\r\nm=/).slice(1)) {
      const mid = /a=mid:(\S+)/.exec(sec), dir = /a=(sendrecv|sendonly|recvonly|inactive)/.exec(sec);
      if (mid) dirs[mid[1]] = dir ? dir[1] : 'sendrecv';
    }
    for (const t of pc.getTransceivers()) {
      if (dirs[t.mid] === 'recvonly') {
        const m = await getMedia();
        await t.sender.replaceTrack(t.receiver.track.kind === 'video' ? m.video : m.audio);
        t.direction = 'sendonly';
      } else t.direction = 'recvonly';
    }
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise(res => { const to = setTimeout(res, 2000);
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(to); res(); } }); });
    await post('/answer?id=' + offer.id, pc.localDescription.sdp, 'application/sdp');
  } catch (e) { s.error = String(e); }
}
setInterval(report, 500);
(async function poll() {
  try {
    const r = await fetch('/pending');
    if (r.status === 200) answer(await r.json());
  } catch (e) { S.error = String(e); }
  setTimeout(poll, 200);
})();
</script></body></html>
)html";

// The success path of both pages, end to end, against the answerer page: the publisher
// (H264, painted canvas) is answered with 201 + Location, connects and sends; the player
// (detect=1) receives the answerer's painted canvas and sees its colours change; the
// publisher DELETEs its resource. Prints the browser-to-browser glass-to-glass delay.
TEST(ChromiumHarness, WhipAndWhepPagesPublishAndPlayEndToEnd) {
  SKIP_WITHOUT_CHROMIUM();
  Context c;
  std::string why_not;
  std::unique_ptr<LoopbackNetns> ns;
  if (LoopbackNetns::usable(&why_not)) ns = std::make_unique<LoopbackNetns>("chromium");
  ChromiumOptions opt;
  opt.netns = ns && ns->ok() ? ns->name() : "";

  PageReportServer server(c.ctx);
  ASSERT_TRUE(server.start("127.0.0.1", 0, opt.netns)) << server.error();
  server.add_page("/publish.html", kWhipPublishPage);
  server.add_page("/play.html", kWhepPlayPage);
  server.add_page("/answerer.html", kAnswererPage);
  std::deque<json> pending;
  std::map<uint64_t, std::string> kind_of;  // "whip" / "whep" per offer id
  std::vector<std::string> deleted;
  auto queue = [&](const char* kind) {
    return [&, kind](uint64_t id, const PageReportServer::Request& rq) {
      kind_of[id] = kind;
      pending.push_back({{"id", id}, {"sdp", rq.body}});
    };
  };
  server.add_deferred_handler("/whip", queue("whip"));
  server.add_deferred_handler("/whep", queue("whep"));
  server.add_handler("/pending", [&](const PageReportServer::Request&) {
    if (pending.empty()) return PageReportServer::Response{204, "text/plain", "", {}};
    json j = pending.front();
    pending.pop_front();
    return PageReportServer::Response{200, "application/json", j.dump(), {}};
  });
  server.add_handler("/answer", [&](const PageReportServer::Request& rq) {
    const std::string id = rq.query.count("id") ? rq.query.at("id") : "0";
    const bool ok = server.reply(
        std::stoull(id), {201, "application/sdp", rq.body, {{"Location", "/resource?id=" + id}}});
    return PageReportServer::Response{ok ? 204 : 404, "text/plain", "", {}};
  });
  server.add_handler("/resource", [&](const PageReportServer::Request& rq) {
    if (rq.method == "DELETE") deleted.push_back(rq.query.count("id") ? rq.query.at("id") : "");
    return PageReportServer::Response{200, "text/plain", "", {}};
  });

  ChromiumProcess answerer, publisher, player;
  ASSERT_TRUE(answerer.start(server.url("/answerer.html"), opt));
  ASSERT_TRUE(publisher.start(
      server.url("/publish.html?whip=/whip&token=t&codec=H264&paint=1&delete_after=8"), opt));
  ASSERT_TRUE(player.start(server.url("/play.html?whep=/whep&detect=1"), opt));
  auto logs = [&] {
    return server.dump(1) + "answerer log:\n" + answerer.log_tail(2000) + "\npublisher log:\n" +
           publisher.log_tail(2000) + "\nplayer log:\n" + player.log_tail(2000);
  };
  auto flowing = [&] {
    auto pub = server.last("publish"), play = server.last("play");
    if (!pub || !play) return false;
    const json& ov = (*pub)["outbound"]["video"];
    const json& iv = (*play)["inbound"]["video"];
    const json& ia = (*play)["inbound"]["audio"];
    return (*pub)["state"] == "connected" && num(ov, "framesEncoded") > 0 &&
           (*play)["state"] == "connected" && num(iv, "framesDecoded") > 0 &&
           num(ia, "totalSamplesReceived") > 0 && (*play)["detect"]["changes"].size() >= 4;
  };
  ASSERT_TRUE(run_until(c.ctx, flowing, 30000)) << "media did not flow within 30 s\n" << logs();
  const json pub = *server.last("publish"), play = *server.last("play");
  EXPECT_EQ(pub["http_status"], 201);
  EXPECT_EQ(pub["outbound"]["video"]["codec"], "video/H264") << pub.dump(2);
  EXPECT_GT(num(pub["outbound"]["audio"], "packetsSent"), 0);
  EXPECT_GE(pub["paint"]["changes"].size(), 2u);
  const std::string resource =
      pub["resource"].is_string() ? pub["resource"].get<std::string>() : "";
  EXPECT_EQ(resource.rfind(server.url("/resource?id="), 0), 0u) << pub.dump(2);
  EXPECT_EQ(play["http_status"], 201);
  EXPECT_TRUE(play["warnings"].empty()) << play.dump(2);
  EXPECT_EQ(play["detect"]["method"], "requestVideoFrameCallback");
  if (!opt.netns.empty()) {
    EXPECT_EQ(pub["pair"]["local"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << pub.dump(2);
  }
  // What the answerer received from the publisher.
  auto ans = server.last("answerer");
  ASSERT_TRUE(ans);
  bool received = false;
  for (const auto& sess : (*ans)["sessions"])
    if (kind_of[sess["id"].get<uint64_t>()] == "whip")
      received |= num(sess["video"], "framesDecoded") > 0;
  EXPECT_TRUE(received) << ans->dump(2);

  // Glass to glass, browser to browser: each colour the player saw against the answerer's
  // latest paint of that colour before it.
  std::vector<double> delays;
  for (const auto& d : play["detect"]["changes"]) {
    double paint_t = -1;
    for (const auto& p : (*ans)["paint"])
      if (p["colour"] == d["colour"] && p["t"].get<double>() <= d["t"].get<double>())
        paint_t = p["t"].get<double>();
    if (paint_t > 0) delays.push_back(d["t"].get<double>() - paint_t);
  }
  std::sort(delays.begin(), delays.end());
  ASSERT_FALSE(delays.empty()) << play.dump(2);
  const double median = delays[delays.size() / 2];
  EXPECT_GE(median, 0);
  EXPECT_LT(median, 2000);
  std::cout << "colour changes seen: " << delays.size() << ", glass-to-glass median " << median
            << " ms (min " << delays.front() << ", max " << delays.back() << ")" << std::endl;
  std::cout << "publish: " << pub["outbound"].dump() << " pair " << pub["pair"].dump()
            << "\nplay: " << play["inbound"].dump() << std::endl;

  // delete_after=8: the publisher ends its session.
  ASSERT_TRUE(run_until(
      c.ctx,
      [&] {
        auto r = server.last("publish");
        return r && (*r)["delete_status"].is_number();
      },
      15000))
      << logs();
  EXPECT_EQ((*server.last("publish"))["delete_status"], 200);
  ASSERT_EQ(deleted.size(), 1u);
}

// Without a browser: CORS, bounded bodies, tags kept apart.
TEST(PageReportServer, BoundsAndTags) {
  Context c;
  PageReportServer server(c.ctx);
  ASSERT_TRUE(server.start()) << server.error();
  server.add_page("/p", "hello", "text/plain");
  // The client on a thread of its own, while this one runs the server's context.
  auto request = [&](const std::string& raw) {
    std::string resp;
    std::atomic<bool> finished{false};
    std::thread t([&] {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(server.port());
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
        char buf[4096];
        for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, size_t(n));
      }
      close(fd);
      finished = true;
    });
    run_until(
        c.ctx, [&] { return finished.load(); }, 8000);
    t.join();
    return resp;
  };
  auto post = [&](const std::string& path, const std::string& body) {
    return request("POST " + path +
                   " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  std::string r = request("GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Origin: *"), std::string::npos) << r;
  EXPECT_NE(r.find("hello"), std::string::npos);
  r = request("OPTIONS /report HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("204"), std::string::npos) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Headers"), std::string::npos) << r;

  EXPECT_NE(post("/report?tag=a", R"({"n":1})").find("204"), std::string::npos);
  EXPECT_NE(post("/report?tag=b", R"({"n":2})").find("204"), std::string::npos);
  EXPECT_NE(post("/report?tag=a", R"({"n":3})").find("204"), std::string::npos);
  EXPECT_NE(post("/report?tag=a", "not json").find("400"), std::string::npos);
  r = post("/report?tag=a", std::string(PageReportServer::kMaxBody + 1, ' '));
  EXPECT_NE(r.find("413"), std::string::npos) << r;
  ASSERT_EQ(server.reports("a").size(), 2u);
  EXPECT_EQ(server.reports("a")[1]["n"], 3);
  EXPECT_EQ(server.reports("b").size(), 1u);
  EXPECT_EQ(server.rejected(), 2u);
  EXPECT_EQ(server.received(), 3u);
  EXPECT_EQ(server.url("/x?y=1"), "http://127.0.0.1:" + std::to_string(server.port()) + "/x?y=1");
}
