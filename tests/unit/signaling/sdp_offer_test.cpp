#include "signaling/sdp_offer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace meshcast::signaling;

namespace {

// Fixtures are written with LF; crlf() gives what browsers actually send.
// Chromium 156 (headless, fake devices): getUserMedia audio+video, two sendonly transceivers,
// setLocalDescription and complete ICE gathering, as a WHIP client would POST it.
constexpr const char* kChromeWhip = R"sdp(v=0
o=- 1171560046602470065 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 60754 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 192.0.2.2
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1680824179 1 udp 2122194687 192.0.2.2 60754 typ host generation 0 network-id 1
a=candidate:2072510071 1 udp 2122265343 fd00::2 45908 typ host generation 0 network-id 2
a=candidate:447836798 1 tcp 1518214911 192.0.2.2 9 typ host tcptype active generation 0 network-id 1
a=candidate:85580666 1 tcp 1518285567 fd00::2 9 typ host tcptype active generation 0 network-id 2
a=ice-ufrag:Fe1T
a=ice-pwd:QMtM4qgHFHl+FtYJ0yGLILbe
a=ice-options:trickle
a=fingerprint:sha-256 B8:E7:92:2F:93:31:B4:64:29:36:09:15:9E:9D:7D:FB:71:C4:EC:85:C7:3E:56:26:16:5B:91:20:04:BA:99:2D
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=msid:- 087151cf-238f-4276-97cd-8a28056a673a
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1874739884 cname:dPvBfYGtN1ZWouUP
a=ssrc:1874739884 msid:- 087151cf-238f-4276-97cd-8a28056a673a
m=video 51835 UDP/TLS/RTP/SAVPF 96 97 102 103 104 107 108 109 114 115 116 117 39 40 45 46 98 99 100 101 118 119 120
c=IN IP4 192.0.2.2
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1680824179 1 udp 2122194687 192.0.2.2 51835 typ host generation 0 network-id 1
a=candidate:2072510071 1 udp 2122265343 fd00::2 56009 typ host generation 0 network-id 2
a=candidate:447836798 1 tcp 1518214911 192.0.2.2 9 typ host tcptype active generation 0 network-id 1
a=candidate:85580666 1 tcp 1518285567 fd00::2 9 typ host tcptype active generation 0 network-id 2
a=ice-ufrag:Fe1T
a=ice-pwd:QMtM4qgHFHl+FtYJ0yGLILbe
a=ice-options:trickle
a=fingerprint:sha-256 B8:E7:92:2F:93:31:B4:64:29:36:09:15:9E:9D:7D:FB:71:C4:EC:85:C7:3E:56:26:16:5B:91:20:04:BA:99:2D
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=msid:- 44b787fc-eae6-4f40-a6e3-78c7ab0a98db
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=104
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:114 H264/90000
a=rtcp-fb:114 goog-remb
a=rtcp-fb:114 transport-cc
a=rtcp-fb:114 ccm fir
a=rtcp-fb:114 nack
a=rtcp-fb:114 nack pli
a=fmtp:114 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:115 rtx/90000
a=fmtp:115 apt=114
a=rtpmap:116 H264/90000
a=rtcp-fb:116 goog-remb
a=rtcp-fb:116 transport-cc
a=rtcp-fb:116 ccm fir
a=rtcp-fb:116 nack
a=rtcp-fb:116 nack pli
a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:39 H264/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:118 red/90000
a=rtpmap:119 rtx/90000
a=fmtp:119 apt=118
a=rtpmap:120 ulpfec/90000
a=ssrc-group:FID 2011649095 2333212807
a=ssrc:2011649095 cname:dPvBfYGtN1ZWouUP
a=ssrc:2011649095 msid:- 44b787fc-eae6-4f40-a6e3-78c7ab0a98db
a=ssrc:2333212807 cname:dPvBfYGtN1ZWouUP
a=ssrc:2333212807 msid:- 44b787fc-eae6-4f40-a6e3-78c7ab0a98db
)sdp";

// Chromium 156: addTransceiver('video' then 'audio', recvonly), createOffer() without
// gathering, as a WHEP player would POST it.
constexpr const char* kChromeWhep = R"sdp(v=0
o=- 1840664786060894997 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 35 36 37 38 102 103 104 107 108 109 114 115 116 117 39 40 41 42 43 44 45 46 47 48 118 119 120 49
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:2YYo
a=ice-pwd:0DpSzW9T7VtRqwPDRqZ9YA/M
a=ice-options:trickle
a=fingerprint:sha-256 31:09:9B:A9:2D:4E:09:B9:39:5A:EF:C5:18:EC:29:7D:70:B2:5D:BA:F9:64:4E:EF:1C:A0:BD:22:B3:5E:EA:CD
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 urn:3gpp:video-orientation
a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:35 VP9/90000
a=rtcp-fb:35 goog-remb
a=rtcp-fb:35 transport-cc
a=rtcp-fb:35 ccm fir
a=rtcp-fb:35 nack
a=rtcp-fb:35 nack pli
a=fmtp:35 profile-id=1
a=rtpmap:36 rtx/90000
a=fmtp:36 apt=35
a=rtpmap:37 VP9/90000
a=rtcp-fb:37 goog-remb
a=rtcp-fb:37 transport-cc
a=rtcp-fb:37 ccm fir
a=rtcp-fb:37 nack
a=rtcp-fb:37 nack pli
a=fmtp:37 profile-id=3
a=rtpmap:38 rtx/90000
a=fmtp:38 apt=37
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=104
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:114 H264/90000
a=rtcp-fb:114 goog-remb
a=rtcp-fb:114 transport-cc
a=rtcp-fb:114 ccm fir
a=rtcp-fb:114 nack
a=rtcp-fb:114 nack pli
a=fmtp:114 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:115 rtx/90000
a=fmtp:115 apt=114
a=rtpmap:116 H264/90000
a=rtcp-fb:116 goog-remb
a=rtcp-fb:116 transport-cc
a=rtcp-fb:116 ccm fir
a=rtcp-fb:116 nack
a=rtcp-fb:116 nack pli
a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:39 H264/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:41 H264/90000
a=rtcp-fb:41 goog-remb
a=rtcp-fb:41 transport-cc
a=rtcp-fb:41 ccm fir
a=rtcp-fb:41 nack
a=rtcp-fb:41 nack pli
a=fmtp:41 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=f4001f
a=rtpmap:42 rtx/90000
a=fmtp:42 apt=41
a=rtpmap:43 H264/90000
a=rtcp-fb:43 goog-remb
a=rtcp-fb:43 transport-cc
a=rtcp-fb:43 ccm fir
a=rtcp-fb:43 nack
a=rtcp-fb:43 nack pli
a=fmtp:43 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=f4001f
a=rtpmap:44 rtx/90000
a=fmtp:44 apt=43
a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:47 AV1/90000
a=rtcp-fb:47 goog-remb
a=rtcp-fb:47 transport-cc
a=rtcp-fb:47 ccm fir
a=rtcp-fb:47 nack
a=rtcp-fb:47 nack pli
a=fmtp:47 level-idx=5;profile=1;tier=0
a=rtpmap:48 rtx/90000
a=fmtp:48 apt=47
a=rtpmap:118 red/90000
a=rtpmap:119 rtx/90000
a=fmtp:119 apt=118
a=rtpmap:120 ulpfec/90000
a=rtpmap:49 flexfec-03/90000
a=rtcp-fb:49 goog-remb
a=rtcp-fb:49 transport-cc
a=fmtp:49 repair-window=10000000
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:2YYo
a=ice-pwd:0DpSzW9T7VtRqwPDRqZ9YA/M
a=ice-options:trickle
a=fingerprint:sha-256 31:09:9B:A9:2D:4E:09:B9:39:5A:EF:C5:18:EC:29:7D:70:B2:5D:BA:F9:64:4E:EF:1C:A0:BD:22:B3:5E:EA:CD
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
)sdp";

// OBS WHIP output as libdatachannel writes it: fingerprint only at session level, ICE
// credentials per m-section, every candidate in the first m-section, H264 with no fmtp.
constexpr const char* kObs = R"sdp(v=0
o=rtc 3189421930 0 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=group:LS 0 1
a=msid-semantic:WMS *
a=ice-options:ice2,trickle
a=fingerprint:sha-256 5D:3C:A1:0E:7B:94:F2:11:6A:C8:2D:E0:53:9F:47:B6:18:D2:8E:6C:F0:35:A9:72:4B:E1:0C:97:D5:3A:66:B8
m=audio 54210 UDP/TLS/RTP/SAVPF 111
c=IN IP4 192.168.1.10
a=mid:0
a=sendonly
a=ssrc:2913846812 cname:obs-A7zq1c
a=ssrc:2913846812 msid:obs-stream obs-audio
a=msid:obs-stream obs-audio
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1
a=setup:actpass
a=ice-ufrag:x7Qe
a=ice-pwd:Bn4tUw3WQp0M8Ds1Lr7vkH
a=candidate:1 1 UDP 2122317823 192.168.1.10 54210 typ host
a=candidate:2 1 UDP 2122317567 127.0.0.1 54210 typ host
a=candidate:3 1 UDP 1686109951 203.0.113.7 54210 typ srflx raddr 0.0.0.0 rport 0
a=end-of-candidates
m=video 54210 UDP/TLS/RTP/SAVPF 96
c=IN IP4 192.168.1.10
a=mid:1
a=sendonly
a=ssrc:3874120933 cname:obs-A7zq1c
a=ssrc:3874120933 msid:obs-stream obs-video
a=msid:obs-stream obs-video
a=rtcp-mux
a=rtpmap:96 H264/90000
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtcp-fb:96 goog-remb
a=setup:actpass
a=ice-ufrag:x7Qe
a=ice-pwd:Bn4tUw3WQp0M8Ds1Lr7vkH
)sdp";

// A WHIP PATCH body (application/trickle-ice-sdpfrag) with Chrome-style candidates.
constexpr const char* kTrickle = R"sdp(a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=mid:0
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1
a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2
a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1
a=candidate:2154773085 1 udp 1686052607 203.0.113.5 61764 typ srflx raddr 192.0.2.1 rport 61764 generation 0 ufrag EsAw network-id 1
a=end-of-candidates
)sdp";

std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Replaces the first occurrence of `from` (which must be there) with `to`.
std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string s(text);
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.emplace_back(l);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

std::vector<int> pts(const SdpMedia& m) {
  std::vector<int> out;
  for (const auto& c : m.codecs) out.push_back(c.pt);
  return out;
}

const SdpCodec* by_pt(const SdpMedia& m, int pt) {
  for (const auto& c : m.codecs)
    if (c.pt == pt) return &c;
  return nullptr;
}

// Session and one audio m-section with everything WebRTC requires; tests append lines.
constexpr std::string_view kMinimalHead =
    "v=0\r\n"
    "o=- 1 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=fingerprint:sha-256 AB:CD:EF:01\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuv\r\n";
constexpr std::string_view kAudioLine = "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 9\r\n";

std::string minimal(std::string_view extra = {}) {
  return std::string(kMinimalHead) + std::string(kAudioLine) + "a=mid:0\r\n" +
         "a=rtpmap:111 opus/48000/2\r\n" + std::string(extra);
}

// Parses what must fail and returns the reason.
std::string reason(std::string_view text) {
  auto r = parse_sdp_offer(text);
  EXPECT_FALSE(r) << text.substr(0, 200);
  if (r) return "";
  EXPECT_FALSE(r.error().empty());
  EXPECT_LT(r.error().size(), 200u);  // short enough for an HTTP 400 body
  return r.error();
}

SdpCodec h264(int pt, std::string fmtp) {
  SdpCodec c;
  c.pt = pt;
  c.name = "H264";
  c.clock_rate = 90000;
  c.fmtp = std::move(fmtp);
  return c;
}

}  // namespace

TEST(SdpOffer, ChromeWhipPublishOffer) {
  auto r = parse_sdp_offer(crlf(kChromeWhip));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->bundle_mids, (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(r->media.size(), 2u);

  const SdpMedia& a = r->media[0];
  EXPECT_EQ(a.kind, "audio");
  EXPECT_EQ(a.port, 60754);
  EXPECT_EQ(a.protocol, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(a.mid, "0");
  EXPECT_EQ(a.direction, "sendonly");
  EXPECT_EQ(pts(a), (std::vector<int>{111, 63, 9, 0, 8, 13, 110, 126}));
  const SdpCodec* opus = by_pt(a, 111);
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(opus->name, "opus");
  EXPECT_EQ(opus->clock_rate, 48000);
  EXPECT_EQ(opus->channels, 2);
  EXPECT_EQ(opus->fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(opus->rtcp_fb, (std::vector<std::string>{"transport-cc"}));
  EXPECT_EQ(by_pt(a, 63)->name, "red");
  EXPECT_EQ(by_pt(a, 63)->fmtp, "111/111");
  EXPECT_EQ(by_pt(a, 0)->name, "PCMU");
  EXPECT_EQ(by_pt(a, 126)->name, "telephone-event");
  EXPECT_EQ(by_pt(a, 126)->clock_rate, 8000);
  EXPECT_EQ(by_pt(a, 126)->channels, 0);
  ASSERT_EQ(a.candidates.size(), 4u);
  EXPECT_EQ(a.candidates[0],
            "candidate:1680824179 1 udp 2122194687 192.0.2.2 60754 typ host generation 0 "
            "network-id 1");
  EXPECT_FALSE(a.end_of_candidates);  // Chrome never writes it into the SDP
  EXPECT_EQ(a.ice_ufrag, "Fe1T");
  EXPECT_EQ(a.ice_pwd, "QMtM4qgHFHl+FtYJ0yGLILbe");
  EXPECT_EQ(a.fingerprint.substr(0, 11), "sha-256 B8:");
  EXPECT_EQ(a.setup, "actpass");

  const SdpMedia& v = r->media[1];
  EXPECT_EQ(v.kind, "video");
  EXPECT_EQ(v.mid, "1");
  EXPECT_EQ(v.direction, "sendonly");
  EXPECT_EQ(pts(v), (std::vector<int>{96, 97, 102, 103, 104, 107, 108, 109, 114, 115, 116, 117,
                                      39, 40, 45,  46,  98,  99,  100, 101, 118, 119, 120}));
  const SdpCodec* vp8 = by_pt(v, 96);
  EXPECT_EQ(vp8->name, "VP8");
  EXPECT_EQ(vp8->clock_rate, 90000);
  EXPECT_EQ(vp8->fmtp, "");
  EXPECT_EQ(vp8->rtcp_fb,
            (std::vector<std::string>{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}));
  EXPECT_EQ(by_pt(v, 97)->name, "rtx");
  EXPECT_EQ(by_pt(v, 97)->fmtp, "apt=96");
  EXPECT_EQ(by_pt(v, 45)->name, "AV1");
  EXPECT_EQ(by_pt(v, 120)->name, "ulpfec");
  EXPECT_EQ(v.candidates.size(), 4u);

  // Codec choice on Chrome's real list.
  EXPECT_EQ(find_codec(v, "VP8")->pt, 96);
  EXPECT_EQ(find_codec(v, "vp9")->pt, 98);  // profile-id=0 comes first
  EXPECT_EQ(find_codec(v, "AV1")->pt, 45);
  EXPECT_EQ(find_codec(v, "H264")->pt, 102);        // mode 1, 42001f, first in order
  EXPECT_EQ(find_codec(v, "H264", "4d")->pt, 116);  // main, mode 1 (39 is main, mode 0)
  EXPECT_EQ(find_codec(v, "H264", "42e01f")->pt, 102);
  EXPECT_EQ(find_codec(v, "H264", "640c1f")->pt, 102);  // no high: first acceptable
  EXPECT_FALSE(find_codec(v, "opus"));
  EXPECT_EQ(find_codec(a, "OPUS")->pt, 111);
  EXPECT_EQ(find_codec(a, "red")->pt, 63);
  EXPECT_EQ(find_codec(a, "G722")->pt, 9);
}

TEST(SdpOffer, LineFeedOnlyParsesTheSame) {
  auto lf = parse_sdp_offer(kChromeWhip);
  auto cr = parse_sdp_offer(crlf(kChromeWhip));
  ASSERT_TRUE(lf) << lf.error();
  ASSERT_TRUE(cr);
  ASSERT_EQ(lf->media.size(), cr->media.size());
  for (size_t i = 0; i < lf->media.size(); ++i) {
    EXPECT_EQ(lf->media[i].codecs.size(), cr->media[i].codecs.size());
    EXPECT_EQ(lf->media[i].candidates, cr->media[i].candidates);
    EXPECT_EQ(lf->media[i].fingerprint, cr->media[i].fingerprint);
  }
  // No final line ending, and a blank line at the end, are both tolerated.
  std::string s = crlf(kChromeWhip);
  EXPECT_TRUE(parse_sdp_offer(s.substr(0, s.size() - 2)));
  EXPECT_TRUE(parse_sdp_offer(s + "\r\n"));
}

TEST(SdpOffer, ChromeWhepRecvonlyOffer) {
  auto r = parse_sdp_offer(crlf(kChromeWhep));
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->media.size(), 2u);
  const SdpMedia& v = r->media[0];
  const SdpMedia& a = r->media[1];
  EXPECT_EQ(v.kind, "video");
  EXPECT_EQ(v.port, 9);
  EXPECT_EQ(v.direction, "recvonly");
  EXPECT_EQ(a.direction, "recvonly");
  EXPECT_TRUE(v.candidates.empty());
  EXPECT_EQ(v.codecs.size(), 34u);
  EXPECT_EQ(by_pt(v, 49)->name, "flexfec-03");
  EXPECT_EQ(by_pt(v, 49)->fmtp, "repair-window=10000000");
  EXPECT_EQ(find_codec(v, "H264")->pt, 102);
  EXPECT_EQ(find_codec(v, "H264", "f4")->pt, 41);  // High 4:4:4, mode 1 (43 is mode 0)
  EXPECT_EQ(find_codec(v, "H264", "4D001F")->pt, 116);
  EXPECT_EQ(find_codec(v, "VP9")->fmtp, "profile-id=0");
  EXPECT_EQ(a.ice_ufrag, "2YYo");
  EXPECT_EQ(v.ice_ufrag, a.ice_ufrag);
}

TEST(SdpOffer, ObsLibdatachannelOffer) {
  auto r = parse_sdp_offer(crlf(kObs));
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->media.size(), 2u);
  const SdpMedia& a = r->media[0];
  const SdpMedia& v = r->media[1];
  EXPECT_EQ(a.mid, "0");
  EXPECT_EQ(v.mid, "1");
  EXPECT_EQ(a.direction, "sendonly");
  EXPECT_EQ(v.direction, "sendonly");
  // Session-level fingerprint reaches both m-sections.
  EXPECT_EQ(a.fingerprint.substr(0, 13), "sha-256 5D:3C");
  EXPECT_EQ(v.fingerprint, a.fingerprint);
  EXPECT_EQ(v.ice_ufrag, "x7Qe");
  EXPECT_EQ(v.ice_pwd, "Bn4tUw3WQp0M8Ds1Lr7vkH");
  ASSERT_EQ(a.codecs.size(), 1u);
  EXPECT_EQ(a.codecs[0].pt, 111);
  EXPECT_EQ(a.codecs[0].channels, 2);
  ASSERT_EQ(v.codecs.size(), 1u);
  EXPECT_EQ(v.codecs[0].name, "H264");
  EXPECT_EQ(v.codecs[0].fmtp, "");
  EXPECT_EQ(v.codecs[0].rtcp_fb, (std::vector<std::string>{"nack", "nack pli", "goog-remb"}));
  ASSERT_EQ(a.candidates.size(), 3u);
  EXPECT_TRUE(a.end_of_candidates);
  EXPECT_TRUE(v.candidates.empty());
  EXPECT_FALSE(v.end_of_candidates);
  EXPECT_EQ(candidate_address(a.candidates[2]), "203.0.113.7");
  // H264 without fmtp is acceptable whatever profile is preferred.
  EXPECT_EQ(find_codec(v, "h264")->pt, 96);
  EXPECT_EQ(find_codec(v, "H264", "64")->pt, 96);
}

TEST(SdpOffer, SessionLevelDefaultsAndMediaOverrides) {
  std::string s = std::string(kMinimalHead) + "a=recvonly\r\na=setup:passive\r\n" +
                  std::string(kAudioLine) + "a=mid:a\r\n" +
                  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=sendonly\r\n"
                  "a=ice-ufrag:vvvv\r\na=setup:active\r\na=fingerprint:sha-1 01:02\r\n" +
                  "a=end-of-candidates\r\n";
  auto r = parse_sdp_offer(s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->media[0].direction, "recvonly");
  EXPECT_EQ(r->media[0].setup, "passive");
  EXPECT_EQ(r->media[0].ice_ufrag, "abcd");
  EXPECT_EQ(r->media[0].fingerprint, "sha-256 AB:CD:EF:01");
  EXPECT_FALSE(r->media[0].end_of_candidates);
  EXPECT_EQ(r->media[1].direction, "sendonly");
  EXPECT_EQ(r->media[1].setup, "active");
  EXPECT_EQ(r->media[1].ice_ufrag, "vvvv");
  EXPECT_EQ(r->media[1].ice_pwd, "abcdefghijklmnopqrstuv");
  EXPECT_EQ(r->media[1].fingerprint, "sha-1 01:02");
  EXPECT_TRUE(r->media[1].end_of_candidates);
  EXPECT_TRUE(r->bundle_mids.empty());
  // Default direction when none is written anywhere.
  auto d = parse_sdp_offer(minimal());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->media[0].direction, "sendrecv");
}

TEST(SdpOffer, StaticPayloadTypesAndJoining) {
  auto r =
      parse_sdp_offer(minimal("a=rtpmap:8 PCMA/16000\r\n"     // overrides the static entry
                              "a=rtpmap:100 VP8/90000\r\n"    // not on the m-line: ignored
                              "a=fmtp:100 x=1\r\n"            // likewise
                              "a=rtcp-fb:100 nack\r\n"        // likewise
                              "a=rtcp-fb:* nack\r\n"          // every codec of the m-line
                              "a=unknown-thing:whatever\r\n"  // ignored
                              "b=AS:30\r\n"));
  ASSERT_TRUE(r) << r.error();
  const SdpMedia& a = r->media[0];
  EXPECT_EQ(pts(a), (std::vector<int>{111, 0, 8, 9}));
  EXPECT_EQ(by_pt(a, 0)->name, "PCMU");
  EXPECT_EQ(by_pt(a, 0)->clock_rate, 8000);
  EXPECT_EQ(by_pt(a, 0)->channels, 1);
  EXPECT_EQ(by_pt(a, 8)->clock_rate, 16000);
  EXPECT_EQ(by_pt(a, 9)->name, "G722");
  EXPECT_EQ(by_pt(a, 9)->clock_rate, 8000);
  for (const auto& c : a.codecs) EXPECT_EQ(c.rtcp_fb, (std::vector<std::string>{"nack"}));
  EXPECT_EQ(find_codec(a, "pcmu")->pt, 0);
}

TEST(SdpOffer, DataChannelAndRejectedSections) {
  auto r = parse_sdp_offer(
      minimal("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:dc\r\na=sctp-port:5000\r\n"
              "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:off\r\na=inactive\r\n"));
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->media.size(), 3u);
  EXPECT_EQ(r->media[1].kind, "application");
  EXPECT_TRUE(r->media[1].codecs.empty());
  EXPECT_EQ(r->media[2].port, 0);
  EXPECT_EQ(r->media[2].direction, "inactive");
  EXPECT_EQ(r->media[2].codecs.size(), 1u);
  EXPECT_EQ(r->media[2].codecs[0].name, "");  // dynamic pt without rtpmap
}

TEST(SdpOffer, RejectsMalformedInput) {
  EXPECT_NE(reason("").find("empty"), std::string::npos);
  EXPECT_NE(reason("\r\n\r\n").find("empty"), std::string::npos);
  // Truncated in the middle of a line, at several places of a real offer.
  const std::string whip = crlf(kChromeWhip);
  for (std::string_view cut :
       {"m=video 51835 UDP/TLS/RTP/SAVPF 96 97 102", "a=rtpmap:96 VP",
        "a=fingerprint:sha-256 B8:E7:9", "a=ice-pwd:QMtM4", "a=candidate:16", "m=audio 6"}) {
    size_t at = whip.find(cut);
    ASSERT_NE(at, std::string::npos) << cut;
    std::string r = reason(std::string_view(whip).substr(0, at + cut.size()));
    EXPECT_FALSE(r.empty()) << cut;
  }
  EXPECT_EQ(reason(whip.substr(whip.find("o="))), "line 1: SDP must start with v=0");
  EXPECT_EQ(reason("v=1\r\n"), "line 1: SDP must start with v=0");
  EXPECT_EQ(reason(minimal("v=0\r\n")), "line 11: more than one v= line");
  EXPECT_EQ(reason(replace(whip, "m=audio 60754", "m=audio 70000")), "line 8: bad m= line: port");
  EXPECT_EQ(reason(replace(whip, "m=audio 60754", "m=audio -1")), "line 8: bad m= line: port");
  EXPECT_EQ(reason(replace(whip, "m=audio 60754", "m=audio x")), "line 8: bad m= line: port");
  EXPECT_EQ(reason(replace(whip, "SAVPF 111 63", "SAVPF 111 x63")),
            "line 8: bad m= line: payload type");
  EXPECT_EQ(reason(minimal("m=video 9 UDP/TLS/RTP/SAVPF\r\n")), "line 11: bad m= line: no formats");
  EXPECT_EQ(reason(minimal("m=video 9 UDP/TLS/RTP/SAVPF 96 128\r\n")),
            "line 11: bad m= line: payload type");
  EXPECT_EQ(reason(minimal("m=video 9 UDP/TLS/RTP/SAVPF 96 96\r\n")),
            "line 11: bad m= line: duplicate payload type");
  EXPECT_EQ(reason(minimal("a=rtpmap:128 foo/8000\r\n")), "line 11: bad rtpmap: payload type");
  EXPECT_EQ(reason(minimal("a=rtpmap:-1 foo/8000\r\n")), "line 11: bad rtpmap: payload type");
  EXPECT_EQ(reason(minimal("a=rtpmap:0 PCMU/0\r\n")), "line 11: bad rtpmap: clock rate");
  EXPECT_EQ(reason(minimal("a=rtpmap:0 PCMU/10000001\r\n")), "line 11: bad rtpmap: clock rate");
  EXPECT_EQ(reason(minimal("a=rtpmap:0 PCMU/8000/17\r\n")), "line 11: bad rtpmap: channels");
  EXPECT_EQ(reason(minimal("a=rtpmap:0 PCMU\r\n")), "line 11: bad rtpmap: no clock rate");
  EXPECT_EQ(reason(minimal("a=rtpmap:111 opus/48000/2\r\n")), "line 11: duplicate rtpmap");
  EXPECT_EQ(reason(minimal("a=fmtp:0 a=1\r\na=fmtp:0 a=2\r\n")), "line 12: duplicate fmtp");
  EXPECT_EQ(reason(minimal("a=mid:1\r\n")), "line 11: duplicate mid");
  EXPECT_EQ(reason(minimal("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n")),
            "line 12: mid used twice");
  EXPECT_EQ(reason(minimal("a=sendonly\r\na=recvonly\r\n")),
            "line 12: conflicting direction attributes");
  EXPECT_EQ(reason(minimal("a=setup:sideways\r\n")), "line 11: bad setup");
  EXPECT_EQ(reason(minimal("a=fingerprint:sha-256 XY:Z\r\n")), "line 11: bad fingerprint");
  EXPECT_EQ(reason(minimal("a=ice-ufrag:a b\r\n")), "line 11: bad ice-ufrag");
  EXPECT_EQ(reason(minimal("a=candidate:1 1 udp 1 10.0.0.1 9 host\r\n")), "line 11: bad candidate");
  EXPECT_EQ(reason(minimal("garbage\r\n")), "line 11: expected <letter>=<value>");
  EXPECT_EQ(reason(minimal("a=x\ry\r\n")), "line 11: stray CR");
  EXPECT_EQ(reason("\x89PNG\r\n\x1a\n\x01\x02\xff\xfe"), "line 1: expected <letter>=<value>");
  EXPECT_FALSE(reason(std::string("\xff\xfe\x00\x01v=0", 7)).empty());
}

TEST(SdpOffer, RejectsWhatWebRtcNeeds) {
  const std::string obs = crlf(kObs);
  // The fingerprint is only at session level in libdatachannel's offer.
  std::string no_fp = obs;
  no_fp.erase(no_fp.find("a=fingerprint:"),
              no_fp.find("\r\n", no_fp.find("a=fingerprint:")) - no_fp.find("a=fingerprint:") + 2);
  EXPECT_EQ(reason(no_fp), "m-line 1 (audio): no fingerprint");
  // ICE credentials are per m-section there: drop the video one's ufrag.
  std::string no_ufrag = obs;
  no_ufrag.erase(no_ufrag.rfind("a=ice-ufrag:"), std::string_view("a=ice-ufrag:x7Qe\r\n").size());
  EXPECT_EQ(reason(no_ufrag), "m-line 2 (video): no ice-ufrag");
  std::string no_pwd = crlf(kChromeWhip);
  for (size_t at; (at = no_pwd.find("a=ice-pwd:")) != std::string::npos;)
    no_pwd.erase(at, no_pwd.find("\r\n", at) - at + 2);
  EXPECT_EQ(reason(no_pwd), "m-line 1 (audio): no ice-pwd");
  EXPECT_EQ(reason(replace(obs, "m=video 54210 UDP/TLS/RTP/SAVPF", "m=video 54210 RTP/AVP")),
            "m-line 2 (video): protocol RTP/AVP is not SRTP (SAVP/SAVPF)");
  EXPECT_TRUE(parse_sdp_offer(replace(obs, "UDP/TLS/RTP/SAVPF 96", "RTP/SAVP 96")));
  EXPECT_EQ(reason(std::string(kMinimalHead) + "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"),
            "no audio or video m= line with a port");
  EXPECT_EQ(
      reason(std::string(kMinimalHead) + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
      "no audio or video m= line with a port");
  EXPECT_EQ(reason(std::string(kMinimalHead)), "no audio or video m= line with a port");
}

TEST(SdpOffer, EnforcesLimits) {
  // Size.
  std::string big = minimal();
  while (big.size() <= 65 * 1024) big += "a=x-padding:0123456789abcdef0123456789abcdef\r\n";
  EXPECT_EQ(reason(big), "body larger than 65536 bytes");
  EXPECT_TRUE(parse_sdp_offer(big.substr(0, big.rfind("a=x", kMaxSdpBytes))));
  // NUL.
  std::string nul = minimal("a=x-y:a");
  nul += '\0';
  nul += "b\r\n";
  EXPECT_EQ(reason(nul), "line 11: NUL byte");
  // Long line, many lines.
  EXPECT_EQ(reason(minimal("a=x:" + std::string(4093, 'a') + "\r\n")),
            "line 11: longer than 4096 bytes");
  EXPECT_TRUE(parse_sdp_offer(minimal("a=x:" + std::string(4092, 'a') + "\r\n")));
  std::string many = minimal();
  for (int i = 0; i < 2000; ++i) many += "a=x\r\n";
  EXPECT_EQ(reason(many), "more than 2000 lines");
  std::string blank_lines = minimal() + std::string(2000, '\n');
  EXPECT_EQ(reason(blank_lines), "more than 2000 lines");
  // 20 m-lines (16 are fine).
  std::string twenty(kMinimalHead);
  for (int i = 0; i < 20; ++i) {
    twenty += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:" + std::to_string(i) + "\r\n";
    if (i == 15) {
      EXPECT_TRUE(parse_sdp_offer(twenty));
    }
  }
  EXPECT_EQ(reason(twenty), "line 40: more than 16 m= lines");
  // 65 formats, 65 candidates (64 of each are fine).
  std::string fmts = "m=video 9 UDP/TLS/RTP/SAVPF";
  for (int pt = 0; pt < 64; ++pt) fmts += " " + std::to_string(pt + 30);
  EXPECT_TRUE(parse_sdp_offer(minimal(fmts + "\r\n")));
  EXPECT_EQ(reason(minimal(fmts + " 100\r\n")), "line 11: bad m= line: more than 64 formats");
  std::string cands = minimal();
  for (int i = 0; i < 65; ++i) {
    if (i == 64) {
      EXPECT_TRUE(parse_sdp_offer(cands));
    }
    cands += "a=candidate:" + std::to_string(i) + " 1 udp 2122194687 10.0.0." + std::to_string(i) +
             " 5000 typ host\r\n";
  }
  EXPECT_EQ(reason(cands), "line 75: more than 64 candidates");
  // rtcp-fb:* cannot multiply without bound.
  std::string fb = minimal();
  for (int i = 0; i < 16; ++i) fb += "a=rtcp-fb:* nack\r\n";
  EXPECT_TRUE(parse_sdp_offer(fb));
  EXPECT_EQ(reason(fb + "a=rtcp-fb:* nack\r\n"), "line 27: too many rtcp-fb for one codec");
}

TEST(SdpOffer, EveryTruncationIsHandled) {
  // No prefix of a real offer may crash; those that end before the first ICE password fail.
  const std::string obs = crlf(kObs);
  const size_t pwd = obs.find("a=ice-pwd:") + 20;
  for (size_t n = 0; n <= obs.size(); ++n) {
    auto r = parse_sdp_offer(std::string_view(obs).substr(0, n));
    if (n < pwd) {
      EXPECT_FALSE(r) << n;
    }
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST(SdpFindCodec, H264Rules) {
  SdpMedia m;
  m.kind = "video";
  // Mode 0 only, or fmtp without packetization-mode (which means 0): none acceptable.
  m.codecs = {h264(100, "packetization-mode=0;profile-level-id=42e01f"),
              h264(101, "profile-level-id=42e01f")};
  EXPECT_FALSE(find_codec(m, "H264"));
  // Mode 1 preferred over mode 0 whatever the order.
  m.codecs.push_back(h264(102, "packetization-mode=1;profile-level-id=4d001f"));
  EXPECT_EQ(find_codec(m, "H264")->pt, 102);
  // Constrained baseline (or baseline) preferred when no profile is asked for.
  m.codecs = {h264(100, "packetization-mode=1;profile-level-id=640c1f"),
              h264(101, "packetization-mode=1;profile-level-id=42e01f")};
  EXPECT_EQ(find_codec(m, "H264")->pt, 101);
  m.codecs = {h264(100, "packetization-mode=1;profile-level-id=640c1f"),
              h264(101, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f")};
  EXPECT_EQ(find_codec(m, "H264")->pt, 101);
  EXPECT_EQ(find_codec(m, "H264", "x")->pt, 101);  // no two hex digits: as if empty
  // No fmtp at all (OBS) is acceptable but not preferred over a baseline mode-1 entry...
  m.codecs = {h264(96, ""), h264(97, "packetization-mode=1;profile-level-id=42e01f")};
  EXPECT_EQ(find_codec(m, "H264")->pt, 97);
  // ...and is the first acceptable when nothing is preferred.
  m.codecs = {h264(96, ""), h264(97, "packetization-mode=1;profile-level-id=640c1f")};
  EXPECT_EQ(find_codec(m, "H264")->pt, 96);
  // Mode 1 without profile-level-id is RFC 6184's default 42000A: baseline.
  m.codecs = {h264(96, "packetization-mode=1;profile-level-id=640c1f"),
              h264(97, "packetization-mode=1")};
  EXPECT_EQ(find_codec(m, "H264")->pt, 97);
  // A preferred profile_idc wins; else the first acceptable.
  m.codecs = {h264(100, "packetization-mode=1;profile-level-id=42e01f"),
              h264(101, "packetization-mode=0;profile-level-id=640c1f"),
              h264(102, "packetization-mode=1;profile-level-id=640c1f")};
  EXPECT_EQ(find_codec(m, "H264", "640c1f")->pt, 102);
  EXPECT_EQ(find_codec(m, "H264", "64")->pt, 102);
  EXPECT_EQ(find_codec(m, "H264", "4d001f")->pt, 100);
  EXPECT_EQ(find_codec(m, "H264", "42")->pt, 100);
  // Case-insensitive names, keys and values.
  m.codecs = {h264(100, "PACKETIZATION-MODE=1; PROFILE-LEVEL-ID=42E01F")};
  m.codecs[0].name = "h264";
  EXPECT_EQ(find_codec(m, "H264")->pt, 100);
  EXPECT_EQ(find_codec(m, "h264", "42E0")->pt, 100);
  EXPECT_FALSE(find_codec(m, "H265"));
  EXPECT_FALSE(find_codec(SdpMedia{}, "H264"));
}

TEST(SdpFindCodec, OtherCodecsFirstByName) {
  SdpMedia m;
  m.codecs.resize(2);
  m.codecs[0].pt = 111;
  m.codecs[0].name = "opus";
  m.codecs[1].pt = 112;
  m.codecs[1].name = "OPUS";
  EXPECT_EQ(find_codec(m, "Opus")->pt, 111);
  EXPECT_EQ(find_codec(m, "opus", "64")->pt, 111);  // the profile only concerns H264
  EXPECT_FALSE(find_codec(m, "opu"));
  EXPECT_FALSE(find_codec(m, ""));
}

TEST(SdpCandidate, Address) {
  EXPECT_EQ(candidate_address("candidate:1680824179 1 udp 2122194687 192.0.2.2 60754 typ host "
                              "generation 0 network-id 1"),
            "192.0.2.2");
  EXPECT_EQ(candidate_address("a=candidate:2 1 UDP 2122317567 127.0.0.1 54210 typ host"),
            "127.0.0.1");
  EXPECT_EQ(candidate_address("candidate:85580666 1 tcp 1518285567 fd00::2 9 typ host tcptype "
                              "active"),
            "fd00::2");
  EXPECT_EQ(candidate_address("candidate:1 1 udp 2113937151 "
                              "5c1d3c6e-8e2b-4c4b-9f4e-0f8c1a2b3c4d.local 50000 typ host"),
            "5c1d3c6e-8e2b-4c4b-9f4e-0f8c1a2b3c4d.local");
  EXPECT_EQ(candidate_address("candidate:3 1 UDP 1686109951 203.0.113.7 54210 typ srflx raddr "
                              "0.0.0.0 rport 0"),
            "203.0.113.7");
  for (const char* bad : {
           "", "candidate:",
           "candidate:1 1 udp 2122194687 192.0.2.2 60754 host",       // no "typ"
           "candidate:1 1 udp 2122194687 192.0.2.2 60754 typ",        // no type
           "candidate:1 1 udp 2122194687 192.0.2.2 typ host",         // no port
           "candidate:1  1 udp 2122194687 192.0.2.2 60754 typ host",  // double space
           "candidate:1 1 udp 2122194687 192.0.2.2 65536 typ host",   // port
           "candidate:1 1 udp 4294967296 192.0.2.2 5000 typ host",    // priority > 2^32-1
           "candidate:1 0 udp 1 192.0.2.2 5000 typ host",             // component 0
           "candidate:1 1 udp 1 192.0.2.2;rm 5000 typ host",          // address characters
           "candidate:1\t1 udp 1 192.0.2.2 5000 typ host",            // tab
           "candidate:f*o 1 udp 1 192.0.2.2 5000 typ host",           // foundation
           "a=candidat:1 1 udp 1 192.0.2.2 5000 typ host",            // name
           "candidate:1 1 udp 1 192.0.2.2 5000 typ host\r",           // CR in the type
       })
    EXPECT_EQ(candidate_address(bad), "") << bad;
  EXPECT_EQ(candidate_address("candidate:1 1 udp 4294967295 10.0.0.1 0 typ host"), "10.0.0.1");
}

TEST(SdpCandidate, FilterKeepsOtherLinesByteExact) {
  const std::string whip = crlf(kChromeWhip);
  std::string out = filter_candidates(whip, {"192.0.2.2"});
  // Expected: the input minus the IPv6 candidate lines, every other byte unchanged.
  std::string expect;
  for (const std::string& l : lines_of(whip))
    if (l.find("fd00::2") == std::string::npos) expect += l + "\r\n";
  EXPECT_EQ(out, expect);
  EXPECT_EQ(lines_of(whip).size() - 4, lines_of(out).size());
  auto r = parse_sdp_offer(out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->media[0].candidates.size(), 2u);
  // Nothing allowed: no candidate left; LF input comes out with CRLF.
  out = filter_candidates(kObs, {});
  EXPECT_EQ(out.find("a=candidate:"), std::string::npos);
  EXPECT_EQ(out, filter_candidates(crlf(kObs), {}));
  EXPECT_NE(out.find("a=end-of-candidates\r\n"), std::string::npos);
  // Loopback only.
  out = filter_candidates(kObs, {"127.0.0.1"});
  r = parse_sdp_offer(out);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->media[0].candidates.size(), 1u);
  EXPECT_EQ(candidate_address(r->media[0].candidates[0]), "127.0.0.1");
  // Odd lines survive untouched, malformed candidates go.
  std::string odd = "x=odd  line \t\r\na=candidate:garbage\r\n\r\na=candidatex\xff\r\nlast";
  EXPECT_EQ(filter_candidates(odd, {"127.0.0.1"}),
            "x=odd  line \t\r\n\r\na=candidatex\xff\r\nlast\r\n");
  EXPECT_EQ(filter_candidates("", {}), "");
}

TEST(SdpTrickle, ParsesFragment) {
  auto r = parse_trickle_fragment(crlf(kTrickle));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->ice_ufrag, "EsAw");
  EXPECT_EQ(r->ice_pwd, "P2uYro0UCOQ4zxjKXaWCBui1");
  ASSERT_EQ(r->candidates.size(), 4u);
  for (const auto& c : r->candidates) EXPECT_EQ(c.mid, "0");
  EXPECT_EQ(candidate_address(r->candidates[3].candidate), "203.0.113.5");
  EXPECT_EQ(r->candidates[0].candidate.substr(0, 21), "candidate:1387637174 ");
  EXPECT_TRUE(r->end_of_candidates);
  EXPECT_TRUE(parse_trickle_fragment(kTrickle));  // LF only
}

TEST(SdpTrickle, MidsBySectionAndBareCandidates) {
  auto r = parse_trickle_fragment(
      "a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
      "a=candidate:2 1 udp 1 10.0.0.2 5000 typ host\r\n"
      "a=mid:a\r\n"  // after its section's candidate
      "m=video 9 UDP/TLS/RTP/SAVPF 0\r\n"
      "a=mid:v\r\n"
      "a=candidate:3 1 udp 1 10.0.0.3 5000 typ host\r\n");
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->candidates.size(), 3u);
  EXPECT_EQ(r->candidates[0].mid, "");
  EXPECT_EQ(r->candidates[1].mid, "a");
  EXPECT_EQ(r->candidates[2].mid, "v");
  EXPECT_FALSE(r->end_of_candidates);
  EXPECT_TRUE(r->ice_ufrag.empty());
  // An ICE restart body: credentials only.
  auto restart = parse_trickle_fragment("a=ice-ufrag:ABCD\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n");
  ASSERT_TRUE(restart);
  EXPECT_TRUE(restart->candidates.empty());
  EXPECT_TRUE(parse_trickle_fragment("a=end-of-candidates"));
}

TEST(SdpTrickle, RejectsBadFragments) {
  auto bad = [](std::string_view text) {
    auto r = parse_trickle_fragment(text);
    EXPECT_FALSE(r) << text.substr(0, 200);
    return r ? std::string() : r.error();
  };
  const std::string frag = crlf(kTrickle);
  EXPECT_EQ(bad(replace(frag, " typ host generation 0 ufrag EsAw network-id 2",
                        " host generation 0 ufrag EsAw network-id 2")),
            "line 6: bad candidate");
  EXPECT_EQ(bad(replace(frag, "61764 typ host", "617640 typ host")), "line 5: bad candidate");
  EXPECT_EQ(bad(replace(frag, "192.0.2.1 61764", "192.0.2.1")), "line 5: bad candidate");
  EXPECT_EQ(bad("a=candidate:\r\n"), "line 1: bad candidate");
  EXPECT_EQ(bad("a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\nnot a line\r\n"),
            "line 2: expected <letter>=<value>");
  EXPECT_EQ(bad(frag + "a=ice-ufrag:Other\r\n"), "line 10: conflicting ice-ufrag");
  EXPECT_EQ(bad("a=ice-ufrag:ab\r\n"), "line 1: bad ice-ufrag");
  EXPECT_EQ(bad("a=ice-ufrag:abcd\r\na=ice-pwd:short\r\n"), "line 2: bad ice-pwd");
  EXPECT_EQ(bad(frag + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=mid:2\r\n"),
            "line 12: duplicate mid");
  EXPECT_EQ(bad(""), "empty body");
  EXPECT_EQ(bad("a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"),
            "no ice-ufrag, candidate or end-of-candidates in the fragment");
  std::string nul = "a=end-of-candidates\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host";
  nul[30] = '\0';
  EXPECT_EQ(bad(nul), "line 2: NUL byte");
  EXPECT_EQ(bad(std::string(kMaxSdpBytes + 1, 'a')), "body larger than 65536 bytes");
  std::string sections;
  for (int i = 0; i < 17; ++i) sections += "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
  EXPECT_EQ(bad(sections), "line 17: more than 16 m= lines");
  std::string many = "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
  for (int i = 0; i < 65; ++i) many += "a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n";
  EXPECT_EQ(bad(many), "line 66: more than 64 candidates");
  EXPECT_EQ(bad(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)),
            "line 1: NUL byte");
}

namespace meshcast::signaling {
namespace {

TEST(SdpChooseCodecs, PublisherOrderDecidesAndTheLockHolds) {
  auto chrome = parse_sdp_offer(kChromeWhip);
  ASSERT_TRUE(chrome) << chrome.error();
  auto c = choose_publish_codecs(*chrome);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->video, "VP8");  // Chrome lists VP8 first
  EXPECT_EQ(c->audio_pt, 111);
  auto locked = choose_publish_codecs(*chrome, "H264");
  ASSERT_TRUE(locked) << locked.error();
  EXPECT_EQ(locked->video, "H264");
  EXPECT_EQ(locked->video_pt, 102);  // packetization-mode=1, baseline first

  auto obs = parse_sdp_offer(kObs);
  ASSERT_TRUE(obs) << obs.error();
  auto o = choose_publish_codecs(*obs);
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->video, "H264");  // OBS: H264 without fmtp
  EXPECT_EQ(o->video_pt, 96);
  EXPECT_EQ(o->audio_pt, 111);
  auto refused = choose_publish_codecs(*obs, "VP8");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("carries VP8"), std::string::npos) << refused.error();
}

TEST(SdpChooseCodecs, RecvonlyOffersCannotPublishAndSendonlyCannotPlay) {
  auto whep = parse_sdp_offer(kChromeWhep);
  ASSERT_TRUE(whep) << whep.error();
  EXPECT_FALSE(choose_publish_codecs(*whep));  // nothing is sent
  auto p = choose_play_codecs(*whep, "VP8", true);
  EXPECT_GE(p.video_pt, 0);
  EXPECT_EQ(p.audio_pt, 111);
  EXPECT_GE(choose_play_codecs(*whep, "H264", false).video_pt, 0);
  EXPECT_EQ(choose_play_codecs(*whep, "H264", false).audio_pt, -1);
  EXPECT_EQ(choose_play_codecs(*whep, "", true).video_pt, -1);
  auto whip = parse_sdp_offer(kChromeWhip);
  ASSERT_TRUE(whip);
  auto none = choose_play_codecs(*whip, "VP8", true);  // sendonly: cannot receive
  EXPECT_EQ(none.video_pt, -1);
  EXPECT_EQ(none.audio_pt, -1);
}

}  // namespace
}  // namespace meshcast::signaling
