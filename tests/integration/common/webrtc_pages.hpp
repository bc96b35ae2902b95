// The pages headless Chromium runs in WebRTC tests, served by PageReportServer
// (chromium.hpp). Each one POSTs JSON to /report?tag=... on its own origin every 500 ms;
// every error (also uncaught ones) is caught and reported, none is thrown silently. No
// external resources.
//
//  kWhipPublishPage  ?whip=URL&token=T&w=320&h=240&fps=15&codec=VP8|H264[&paint=1]
//                    [&delete_after=S][&tag=publish]
//    Publishes fake camera + mic (or, with paint=1, a canvas whose solid colour changes
//    every 500 ms, each change's wall-clock time reported) over WHIP.
//  kWhepPlayPage     ?whep=URL&token=T[&detect=1][&tag=play]
//    Plays over WHEP; with detect=1 records when the centre pixel's colour changes.
//  kLoopbackPage     [?tag=loopback&codec=VP8|H264]
//    Two peer connections in one page (pc1 sends fake camera + mic to pc2): proves that
//    WebRTC works in this browser and network, with no server at all.
//
// Times are epoch milliseconds (performance.timeOrigin + performance.now()), so a
// publisher's paint times and a player's detection times compare across pages on one host.
// The paint palette (red, green, blue, white) is the same in both pages.
//
// A WHIP/WHEP endpoint on another origin than the page must answer the CORS preflight
// (OPTIONS: Allow-Origin, Allow-Methods POST/DELETE, Allow-Headers Content-Type and
// Authorization) and expose Location (Access-Control-Expose-Headers), or the page reports
// a failed fetch (http_status 0) or a missing resource URL.
#pragma once

namespace meshcast::testing {

inline constexpr const char* kWhipPublishPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>meshcast WHIP publish</title></head>
<body>
<video id="preview" autoplay muted playsinline width="160" height="120"></video>
<canvas id="paint" width="320" height="240"></canvas>
<script>
'use strict';
const Q = new URLSearchParams(location.search);
const REPORT = '/report?tag=' + encodeURIComponent(Q.get('tag') || 'publish');
const now = () => performance.timeOrigin + performance.now();
const num = (name, def) => { const v = Number(Q.get(name)); return Number.isFinite(v) && v > 0 ? v : def; };
const S = {
  loaded: true, phase: 'load', state: 'new', iceState: 'new', http_status: 0, error: null,
  warnings: [], resource: null, codec: (Q.get('codec') || 'VP8').toUpperCase(),
  delete_status: null, stopped: false,
};
const PAINT = { on: Q.get('paint') === '1', changes: [], colour: null };
let pc = null, timer = null, busy = false;

function post(obj) {
  try {
    return fetch(REPORT, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                           body: JSON.stringify(obj) }).catch(() => {});
  } catch (e) { return Promise.resolve(); }
}
function msg(e) { return String(e && e.message ? e.message : e); }
function warn(e) { if (S.warnings.length < 20) S.warnings.push(msg(e)); }

async function collect() {
  const r = {
    t: now(), loaded: true, phase: S.phase, state: pc ? pc.connectionState : 'none',
    iceState: pc ? pc.iceConnectionState : 'none', gathering: pc ? pc.iceGatheringState : 'none',
    http_status: S.http_status, error: S.error, warnings: S.warnings, resource: S.resource,
    codec_requested: S.codec, delete_status: S.delete_status, stopped: S.stopped,
    outbound: { video: null, audio: null }, pair: null,
  };
  if (PAINT.on) r.paint = { changes: PAINT.changes.slice(-200), colour: PAINT.colour };
  if (!pc) return r;
  try {
    const st = await pc.getStats();
    const byId = new Map();
    st.forEach(x => byId.set(x.id, x));
    let pairId = null;
    st.forEach(x => {
      const codec = x.codecId && byId.get(x.codecId);
      if (x.type === 'outbound-rtp' && x.kind === 'video') {
        r.outbound.video = {
          framesEncoded: x.framesEncoded || 0, packetsSent: x.packetsSent || 0,
          bytesSent: x.bytesSent || 0, frameWidth: x.frameWidth || 0,
          frameHeight: x.frameHeight || 0, framesPerSecond: x.framesPerSecond || 0,
          encoder: x.encoderImplementation || null,
          qualityLimitation: x.qualityLimitationReason || null,
          codec: codec ? codec.mimeType : null, fmtp: codec ? codec.sdpFmtpLine || null : null,
        };
      }
      if (x.type === 'outbound-rtp' && x.kind === 'audio') {
        r.outbound.audio = { packetsSent: x.packetsSent || 0, bytesSent: x.bytesSent || 0,
                             codec: codec ? codec.mimeType : null };
      }
      if (x.type === 'transport' && x.selectedCandidatePairId) pairId = x.selectedCandidatePairId;
    });
    if (!pairId) st.forEach(x => { if (x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded') pairId = x.id; });
    const p = pairId && byId.get(pairId);
    if (p) {
      const l = byId.get(p.localCandidateId), m = byId.get(p.remoteCandidateId);
      r.pair = {
        local: l ? l.address + ':' + l.port : null, remote: m ? m.address + ':' + m.port : null,
        protocol: l ? l.protocol : null, local_type: l ? l.candidateType : null,
        remote_type: m ? m.candidateType : null, rtt: p.currentRoundTripTime,
      };
    }
  } catch (e) { r.stats_error = msg(e); }
  return r;
}
async function report() {
  if (busy) return;
  busy = true;
  try { await post(await collect()); } catch (e) { await post({ loaded: true, error: msg(e) }); }
  busy = false;
}
async function fail(e, status) {
  S.error = msg(e);
  if (status !== undefined) S.http_status = status;
  S.stopped = true;
  if (timer) { clearInterval(timer); timer = null; }
  busy = false;
  await report();
  try { if (pc) pc.close(); } catch (e2) {}
}
window.addEventListener('error', ev => { fail(ev.error || ev.message); });
window.addEventListener('unhandledrejection', ev => { fail(ev.reason); });

// A solid colour that changes every 500 ms, repainted at the frame rate so that the
// capture always has fresh frames.
const PALETTE = [['red', '#ff0000'], ['green', '#00ff00'], ['blue', '#0000ff'], ['white', '#ffffff']];
function paintStream(w, h, fps) {
  const c = document.getElementById('paint');
  c.width = w; c.height = h;
  const g = c.getContext('2d');
  let i = 0, fill = PALETTE[0][1];
  const change = () => {
    const [name, css] = PALETTE[i++ % PALETTE.length];
    fill = css;
    g.fillStyle = fill;
    g.fillRect(0, 0, w, h);
    PAINT.colour = name;
    PAINT.changes.push({ t: now(), colour: name });
    if (PAINT.changes.length > 200) PAINT.changes.shift();
  };
  change();
  setInterval(change, 500);
  setInterval(() => { g.fillStyle = fill; g.fillRect(0, 0, w, h); }, Math.max(10, 1000 / fps));
  return c.captureStream(fps);
}

function preferCodec(transceiver, name) {
  const caps = RTCRtpSender.getCapabilities('video');
  if (!caps) throw new Error('no video sender capabilities');
  const want = 'video/' + name.toLowerCase();
  let first = caps.codecs.filter(c => c.mimeType.toLowerCase() === want);
  if (name === 'H264') {
    first = first.filter(c => /packetization-mode=1/.test(c.sdpFmtpLine || ''));
    const rank = c => /profile-level-id=42e01f/.test(c.sdpFmtpLine) ? 0 : /profile-level-id=42001f/.test(c.sdpFmtpLine) ? 1 : 2;
    first.sort((a, b) => rank(a) - rank(b));
  }
  if (!first.length) throw new Error('this browser cannot send ' + name);
  transceiver.setCodecPreferences(first.concat(caps.codecs.filter(c => !first.includes(c))));
}

function gatheringDone(pc, ms) {
  return new Promise(resolve => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function main() {
  timer = setInterval(report, 500);
  report();
  const whip = Q.get('whip');
  if (!whip) return fail('missing ?whip=URL');
  const token = Q.get('token');
  const w = num('w', 320), h = num('h', 240), fps = num('fps', 15);
  if (S.codec !== 'VP8' && S.codec !== 'H264') return fail('codec must be VP8 or H264, not ' + S.codec);

  S.phase = 'getUserMedia';
  let stream;
  if (PAINT.on) {
    const audio = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream = paintStream(w, h, fps);
    audio.getAudioTracks().forEach(t => stream.addTrack(t));
  } else {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: w }, height: { ideal: h }, frameRate: { ideal: fps } }, audio: true });
  }
  document.getElementById('preview').srcObject = stream;
  const audioTrack = stream.getAudioTracks()[0], videoTrack = stream.getVideoTracks()[0];
  if (!audioTrack || !videoTrack) return fail('no ' + (audioTrack ? 'video' : 'audio') + ' track');

  S.phase = 'offer';
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver(audioTrack, { direction: 'sendonly', streams: [stream] });
  const vt = pc.addTransceiver(videoTrack, { direction: 'sendonly', streams: [stream] });
  preferCodec(vt, S.codec);
  try {
    const p = vt.sender.getParameters();
    p.degradationPreference = 'maintain-resolution';
    await vt.sender.setParameters(p);
  } catch (e) { warn('degradationPreference: ' + msg(e)); }
  await pc.setLocalDescription(await pc.createOffer());
  S.phase = 'gathering';
  await gatheringDone(pc, 2000);

  S.phase = 'post';
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers['Authorization'] = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(whip, { method: 'POST', headers, body: pc.localDescription.sdp });
  } catch (e) { return fail('WHIP POST failed: ' + msg(e), 0); }
  S.http_status = resp.status;
  const body = await resp.text();
  if (resp.status !== 201) return fail('WHIP POST answered ' + resp.status + ': ' + body.slice(0, 300), resp.status);
  const loc = resp.headers.get('Location');
  if (loc) S.resource = new URL(loc, new URL(whip, location.href)).href;
  else warn('201 without a (readable) Location header');

  S.phase = 'answer';
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  S.phase = 'connecting';
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected') S.phase = 'connected';
    report();
  });

  const del = num('delete_after', 0);
  if (del > 0) {
    setTimeout(async () => {
      try {
        if (!S.resource) throw new Error('no resource URL to DELETE');
        const r = await fetch(S.resource, { method: 'DELETE', headers: token ? { 'Authorization': 'Bearer ' + token } : {} });
        S.delete_status = r.status;
      } catch (e) { S.delete_status = 0; warn('DELETE: ' + msg(e)); }
      S.phase = 'deleted';
      pc.close();
      report();
    }, del * 1000);
  }
}
main().catch(e => fail(e));
</script></body></html>
)html";

inline constexpr const char* kWhepPlayPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>meshcast WHEP play</title></head>
<body>
<video id="v" autoplay muted playsinline width="320" height="240"></video>
<canvas id="probe" width="16" height="16"></canvas>
<script>
'use strict';
const Q = new URLSearchParams(location.search);
const REPORT = '/report?tag=' + encodeURIComponent(Q.get('tag') || 'play');
const now = () => performance.timeOrigin + performance.now();
const S = { loaded: true, phase: 'load', http_status: 0, error: null, warnings: [], resource: null, stopped: false };
const DETECT = { on: Q.get('detect') === '1', changes: [], colour: null, frames: 0, method: null };
let pc = null, timer = null, busy = false;
const video = document.getElementById('v');

function post(obj) {
  try {
    return fetch(REPORT, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                           body: JSON.stringify(obj) }).catch(() => {});
  } catch (e) { return Promise.resolve(); }
}
function msg(e) { return String(e && e.message ? e.message : e); }
function warn(e) { if (S.warnings.length < 20) S.warnings.push(msg(e)); }

async function collect() {
  const r = {
    t: now(), loaded: true, phase: S.phase, state: pc ? pc.connectionState : 'none',
    iceState: pc ? pc.iceConnectionState : 'none', gathering: pc ? pc.iceGatheringState : 'none',
    http_status: S.http_status, error: S.error, warnings: S.warnings, resource: S.resource,
    stopped: S.stopped, inbound: { video: null, audio: null }, pair: null,
    element: { width: video.videoWidth, height: video.videoHeight, readyState: video.readyState,
               paused: video.paused, time: video.currentTime },
  };
  if (DETECT.on) r.detect = { changes: DETECT.changes.slice(-200), colour: DETECT.colour,
                              frames: DETECT.frames, method: DETECT.method };
  if (!pc) return r;
  try {
    const st = await pc.getStats();
    const byId = new Map();
    st.forEach(x => byId.set(x.id, x));
    let pairId = null;
    st.forEach(x => {
      const codec = x.codecId && byId.get(x.codecId);
      if (x.type === 'inbound-rtp' && x.kind === 'video') {
        r.inbound.video = {
          framesDecoded: x.framesDecoded || 0, framesReceived: x.framesReceived || 0,
          framesDropped: x.framesDropped || 0, frameWidth: x.frameWidth || 0,
          frameHeight: x.frameHeight || 0, packetsLost: x.packetsLost || 0,
          packetsReceived: x.packetsReceived || 0, bytesReceived: x.bytesReceived || 0,
          jitterBufferDelay: x.jitterBufferDelay || 0,
          jitterBufferEmittedCount: x.jitterBufferEmittedCount || 0,
          keyFramesDecoded: x.keyFramesDecoded || 0, freezeCount: x.freezeCount || 0,
          nackCount: x.nackCount || 0, pliCount: x.pliCount || 0,
          decoder: x.decoderImplementation || null,
          codec: codec ? codec.mimeType : null, fmtp: codec ? codec.sdpFmtpLine || null : null,
        };
      }
      if (x.type === 'inbound-rtp' && x.kind === 'audio') {
        r.inbound.audio = {
          totalSamplesReceived: x.totalSamplesReceived || 0, packetsReceived: x.packetsReceived || 0,
          packetsLost: x.packetsLost || 0, concealedSamples: x.concealedSamples || 0,
          jitterBufferDelay: x.jitterBufferDelay || 0,
          jitterBufferEmittedCount: x.jitterBufferEmittedCount || 0,
          codec: codec ? codec.mimeType : null,
        };
      }
      if (x.type === 'transport' && x.selectedCandidatePairId) pairId = x.selectedCandidatePairId;
    });
    if (!pairId) st.forEach(x => { if (x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded') pairId = x.id; });
    const p = pairId && byId.get(pairId);
    if (p) {
      const l = byId.get(p.localCandidateId), m = byId.get(p.remoteCandidateId);
      r.pair = {
        local: l ? l.address + ':' + l.port : null, remote: m ? m.address + ':' + m.port : null,
        protocol: l ? l.protocol : null, local_type: l ? l.candidateType : null,
        remote_type: m ? m.candidateType : null, rtt: p.currentRoundTripTime,
      };
    }
  } catch (e) { r.stats_error = msg(e); }
  return r;
}
async function report() {
  if (busy) return;
  busy = true;
  try { await post(await collect()); } catch (e) { await post({ loaded: true, error: msg(e) }); }
  busy = false;
}
async function fail(e, status) {
  S.error = msg(e);
  if (status !== undefined) S.http_status = status;
  S.stopped = true;
  if (timer) { clearInterval(timer); timer = null; }
  busy = false;
  await report();
  try { if (pc) pc.close(); } catch (e2) {}
}
window.addEventListener('error', ev => { fail(ev.error || ev.message); });
window.addEventListener('unhandledrejection', ev => { fail(ev.reason); });

// The centre pixel of each frame, classified to the publisher's palette; a change is
// recorded only for a clear match (not a blend between two colours).
const PALETTE = [['red', [255, 0, 0]], ['green', [0, 255, 0]], ['blue', [0, 0, 255]], ['white', [255, 255, 255]]];
function classify(px) {
  let best = null, bestD = Infinity;
  for (const [name, c] of PALETTE) {
    const d = Math.hypot(px[0] - c[0], px[1] - c[1], px[2] - c[2]);
    if (d < bestD) { bestD = d; best = name; }
  }
  return bestD < 90 ? best : null;
}
function startDetect() {
  const g = document.getElementById('probe').getContext('2d', { willReadFrequently: true });
  const sample = (meta) => {
    try {
      if (video.readyState >= 2 && video.videoWidth > 0) {
        DETECT.frames++;
        g.drawImage(video, 0, 0, 16, 16);
        const px = g.getImageData(8, 8, 1, 1).data;
        const colour = classify(px);
        if (colour && colour !== DETECT.colour) {
          DETECT.colour = colour;
          const e = { t: now(), colour, rgb: [px[0], px[1], px[2]] };
          if (meta && meta.rtpTimestamp !== undefined) e.rtp = meta.rtpTimestamp;
          if (meta && meta.receiveTime !== undefined) e.receive_t = performance.timeOrigin + meta.receiveTime;
          DETECT.changes.push(e);
          if (DETECT.changes.length > 200) DETECT.changes.shift();
        }
      }
    } catch (e) { warn('detect: ' + msg(e)); }
  };
  if (typeof video.requestVideoFrameCallback === 'function') {
    DETECT.method = 'requestVideoFrameCallback';
    const onFrame = (t, meta) => { sample(meta); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    DETECT.method = 'requestAnimationFrame';
    const onFrame = () => { sample(null); requestAnimationFrame(onFrame); };
    requestAnimationFrame(onFrame);
  }
}

function gatheringDone(pc, ms) {
  return new Promise(resolve => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function main() {
  timer = setInterval(report, 500);
  report();
  const whep = Q.get('whep');
  if (!whep) return fail('missing ?whep=URL');
  const token = Q.get('token');

  S.phase = 'offer';
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', ev => {
    stream.addTrack(ev.track);
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(e => warn('play: ' + msg(e)));
  });
  await pc.setLocalDescription(await pc.createOffer());
  S.phase = 'gathering';
  await gatheringDone(pc, 2000);

  S.phase = 'post';
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers['Authorization'] = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(whep, { method: 'POST', headers, body: pc.localDescription.sdp });
  } catch (e) { return fail('WHEP POST failed: ' + msg(e), 0); }
  S.http_status = resp.status;
  const body = await resp.text();
  if (resp.status !== 201) return fail('WHEP POST answered ' + resp.status + ': ' + body.slice(0, 300), resp.status);
  const loc = resp.headers.get('Location');
  if (loc) S.resource = new URL(loc, new URL(whep, location.href)).href;
  else warn('201 without a (readable) Location header');

  S.phase = 'answer';
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  S.phase = 'connecting';
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected') S.phase = 'connected';
    report();
  });
  if (DETECT.on) startDetect();
}
main().catch(e => fail(e));
</script></body></html>
)html";

inline constexpr const char* kLoopbackPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>meshcast WebRTC loopback</title></head>
<body>
<video id="v" autoplay muted playsinline width="320" height="240"></video>
<script>
'use strict';
const Q = new URLSearchParams(location.search);
const REPORT = '/report?tag=' + encodeURIComponent(Q.get('tag') || 'loopback');
const now = () => performance.timeOrigin + performance.now();
const S = { loaded: true, phase: 'load', error: null, candidates: [], connected_ms: null };
let pc1 = null, pc2 = null, timer = null, busy = false;

function post(obj) {
  try {
    return fetch(REPORT, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                           body: JSON.stringify(obj) }).catch(() => {});
  } catch (e) { return Promise.resolve(); }
}
function msg(e) { return String(e && e.message ? e.message : e); }

async function collect() {
  const r = { t: now(), page_ms: performance.now(), loaded: true, phase: S.phase, error: S.error,
              state: pc2 ? pc2.connectionState : 'none', connected_ms: S.connected_ms,
              candidates: S.candidates, inbound: { video: null, audio: null }, pair: null };
  if (!pc2) return r;
  try {
    const st = await pc2.getStats();
    const byId = new Map();
    st.forEach(x => byId.set(x.id, x));
    let pairId = null;
    st.forEach(x => {
      const codec = x.codecId && byId.get(x.codecId);
      if (x.type === 'inbound-rtp' && x.kind === 'video')
        r.inbound.video = { framesDecoded: x.framesDecoded || 0, frameWidth: x.frameWidth || 0,
                            frameHeight: x.frameHeight || 0, decoder: x.decoderImplementation || null,
                            codec: codec ? codec.mimeType : null };
      if (x.type === 'inbound-rtp' && x.kind === 'audio')
        r.inbound.audio = { totalSamplesReceived: x.totalSamplesReceived || 0,
                            packetsReceived: x.packetsReceived || 0 };
      if (x.type === 'transport' && x.selectedCandidatePairId) pairId = x.selectedCandidatePairId;
    });
    const p = pairId && byId.get(pairId);
    if (p) {
      const l = byId.get(p.localCandidateId), m = byId.get(p.remoteCandidateId);
      r.pair = { local: l ? l.address + ':' + l.port : null, remote: m ? m.address + ':' + m.port : null };
    }
  } catch (e) { r.stats_error = msg(e); }
  return r;
}
async function report() {
  if (busy) return;
  busy = true;
  try { await post(await collect()); } catch (e) { await post({ loaded: true, error: msg(e) }); }
  busy = false;
}
async function fail(e) {
  S.error = msg(e);
  if (timer) { clearInterval(timer); timer = null; }
  busy = false;
  await report();
}
window.addEventListener('error', ev => { fail(ev.error || ev.message); });
window.addEventListener('unhandledrejection', ev => { fail(ev.reason); });

async function main() {
  timer = setInterval(report, 500);
  report();
  S.phase = 'getUserMedia';
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 320, height: 240, frameRate: 15 }, audio: true });
  S.phase = 'connecting';
  pc1 = new RTCPeerConnection({ iceServers: [] });
  pc2 = new RTCPeerConnection({ iceServers: [] });
  const trickle = (from, to, name) => from.addEventListener('icecandidate', ev => {
    if (!ev.candidate || !ev.candidate.candidate) return;
    const c = ev.candidate;
    if (S.candidates.length < 50) S.candidates.push(name + ' ' + c.address + ':' + c.port + ' ' + c.protocol + ' ' + c.type);
    to.addIceCandidate(c).catch(e => fail(e));
  });
  trickle(pc1, pc2, 'pc1');
  trickle(pc2, pc1, 'pc2');
  pc2.addEventListener('connectionstatechange', () => {
    if (pc2.connectionState === 'connected' && S.connected_ms === null) { S.connected_ms = performance.now(); S.phase = 'connected'; }
  });
  pc2.addEventListener('track', ev => { document.getElementById('v').srcObject = ev.streams[0]; });
  stream.getTracks().forEach(t => pc1.addTrack(t, stream));
  const codec = (Q.get('codec') || '').toUpperCase();
  if (codec) {
    const vt = pc1.getTransceivers().find(t => t.sender.track && t.sender.track.kind === 'video');
    const caps = RTCRtpSender.getCapabilities('video').codecs;
    const first = caps.filter(c => c.mimeType.toUpperCase() === 'VIDEO/' + codec &&
                                   (codec !== 'H264' || /packetization-mode=1/.test(c.sdpFmtpLine || '')));
    if (!first.length) throw new Error('this browser cannot send ' + codec);
    vt.setCodecPreferences(first.concat(caps.filter(c => !first.includes(c))));
  }
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
}
main().catch(e => fail(e));
</script></body></html>
)html";

}  // namespace meshcast::testing
