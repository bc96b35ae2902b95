#include "signaling/cluster_event.hpp"

#include <cctype>

#include "signaling/identity_key.hpp"
#include "signaling/message_validator.hpp"
#include "signaling/protocol_limits.hpp"

namespace meshcast::signaling {

using nlohmann::json;

namespace {

constexpr std::pair<ClusterEventType, const char*> kTypes[] = {
    {ClusterEventType::kHeartbeat, "hb"},    {ClusterEventType::kInstanceDown, "down"},
    {ClusterEventType::kPeer, "peer"},       {ClusterEventType::kPeerGone, "gone"},
    {ClusterEventType::kStream, "stream"},   {ClusterEventType::kStreamEnd, "end"},
    {ClusterEventType::kCall, "call"},       {ClusterEventType::kCallEnd, "hangup"},
    {ClusterEventType::kDeliver, "deliver"}, {ClusterEventType::kIdentity, "bind"},
};

const char* type_name(ClusterEventType t) {
  for (auto& [k, n] : kTypes)
    if (k == t) return n;
  return "?";
}

// A failed check: the reason, for logs and tests.
struct Bad {
  std::string why;
};

const json& field(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end()) throw Bad{std::string("missing '") + name + "'"};
  return *it;
}

std::string str(const json& o, const char* name, std::size_t max_len, bool allow_empty = true) {
  const json& v = field(o, name);
  if (!v.is_string()) throw Bad{std::string("'") + name + "' is not a string"};
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_len) throw Bad{std::string("'") + name + "' too long"};
  if (!allow_empty && s.empty()) throw Bad{std::string("'") + name + "' is empty"};
  return s;
}

std::string name_field(const json& o, const char* n) {
  std::string s = str(o, n, limits::kMaxIdLen, false);
  if (!is_valid_name(s)) throw Bad{std::string("'") + n + "' is not a valid name"};
  return s;
}

int64_t num(const json& o, const char* name, int64_t lo, int64_t hi) {
  const json& v = field(o, name);
  if (!v.is_number_integer()) throw Bad{std::string("'") + name + "' is not an integer"};
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? hi + (hi < INT64_MAX ? 1 : 0)
                        : v.get<int64_t>();
  if (x < lo || x > hi) throw Bad{std::string("'") + name + "' out of range"};
  return x;
}

bool boolean(const json& o, const char* name) {
  const json& v = field(o, name);
  if (!v.is_boolean()) throw Bad{std::string("'") + name + "' is not a boolean"};
  return v.get<bool>();
}

const json& array(const json& o, const char* name, std::size_t max_len) {
  const json& v = field(o, name);
  if (!v.is_array()) throw Bad{std::string("'") + name + "' is not an array"};
  if (v.size() > max_len) throw Bad{std::string("'") + name + "' too long"};
  return v;
}

const json& object(const json& o, const char* name) {
  const json& v = field(o, name);
  if (!v.is_object()) throw Bad{std::string("'") + name + "' is not an object"};
  return v;
}

constexpr int64_t kMaxMs = int64_t(1) << 52;  // any monotonic clock in ms fits

json peer_json(const ClusterPeer& p) {
  json streams = json::array(), partners = json::array();
  for (auto& [s, ms] : p.streams) streams.push_back({s, ms});
  for (auto& x : p.partners) partners.push_back({x.id, x.role, x.rx_kbps});
  return {{"id", p.id},
          {"role", p.role},
          {"group", p.group},
          {"tok", p.token_hash},
          {"ik", p.identity_key},
          {"up", p.upload_kbps},
          {"away", p.away},
          {"acc", p.accept},
          {"allow", p.allow},
          {"streams", std::move(streams)},
          {"partners", std::move(partners)}};
}

ClusterPeer parse_peer(const json& o) {
  ClusterPeer p;
  p.id = name_field(o, "id");
  p.role = str(o, "role", limits::kMaxIdLen);
  p.group = str(o, "group", 64);
  p.token_hash = str(o, "tok", 64);
  if (o.contains("ik")) {  // optional: records of instances that do not share bindings
    p.identity_key = str(o, "ik", kIdentityKeyB64Len);
    if (!p.identity_key.empty() && !decode_identity_key(p.identity_key))
      throw Bad{"'ik' is not 32 bytes in base64"};
  }
  p.upload_kbps = num(o, "up", 0, limits::kMaxUploadKbps);
  p.away = boolean(o, "away");
  p.accept = str(o, "acc", 8);
  if (p.accept != "all" && p.accept != "none" && p.accept != "list") throw Bad{"bad 'acc'"};
  for (auto& a : array(o, "allow", limits::kMaxListLen)) {
    if (!a.is_string() || !is_valid_name(a.get_ref<const std::string&>()))
      throw Bad{"bad 'allow' entry"};
    p.allow.push_back(a.get<std::string>());
  }
  for (auto& s : array(o, "streams", limits::kMaxListLen)) {
    if (!s.is_array() || s.size() != 2 || !s[0].is_string() ||
        !is_valid_name(s[0].get_ref<const std::string&>()) || !s[1].is_number_integer())
      throw Bad{"bad 'streams' entry"};
    const int64_t ms = s[1].is_number_unsigned() && s[1].get<uint64_t>() > uint64_t(kMaxMs)
                           ? -1
                           : s[1].get<int64_t>();
    if (ms < 0 || ms > kMaxMs) throw Bad{"bad 'streams' time"};
    p.streams.emplace_back(s[0].get<std::string>(), ms);
  }
  for (auto& x : array(o, "partners", limits::kMaxListLen)) {
    if (!x.is_array() || x.size() != 3 || !x[0].is_string() ||
        !is_valid_name(x[0].get_ref<const std::string&>()) || !x[1].is_string() ||
        x[1].get_ref<const std::string&>().size() > limits::kMaxKindLen ||
        !x[2].is_number_integer())
      throw Bad{"bad 'partners' entry"};
    const int64_t kbps = x[2].is_number_unsigned() && x[2].get<uint64_t>() > uint64_t(INT64_MAX)
                             ? -1
                             : x[2].get<int64_t>();
    if (kbps < 0 || kbps > limits::kMaxUploadKbps) throw Bad{"bad 'partners' rate"};
    p.partners.push_back({x[0].get<std::string>(), x[1].get<std::string>(), kbps});
  }
  return p;
}

json stream_json(const ClusterStream& s) {
  return {{"name", s.name},         {"owner", s.owner},       {"pk", s.public_key},
          {"kh", s.key_hash},       {"sh", s.secret_hash},    {"by", s.by},
          {"codec", s.codec},       {"kbps", s.bitrate_kbps}, {"priv", s.is_private},
          {"created", s.created_ms}};
}

ClusterStream parse_stream(const json& o) {
  ClusterStream s;
  s.name = name_field(o, "name");
  s.owner = name_field(o, "owner");
  s.public_key = str(o, "pk", limits::kMaxKeyLen);
  s.key_hash = str(o, "kh", 64);
  s.secret_hash = str(o, "sh", 64);
  s.by = str(o, "by", limits::kMaxIdLen);
  s.codec = object(o, "codec");
  if (s.codec.dump().size() > limits::kMaxCodecBytes) throw Bad{"'codec' too big"};
  s.bitrate_kbps = num(o, "kbps", 1, limits::kMaxBitrateKbps);
  s.is_private = boolean(o, "priv");
  if (s.is_private && s.key_hash.empty()) throw Bad{"private stream without a key hash"};
  s.created_ms = num(o, "created", 0, kMaxMs);
  return s;
}

}  // namespace

bool is_valid_instance_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxInstanceIdLen) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

std::string to_text(const ClusterEvent& e) {
  json j = {{"t", type_name(e.type)}, {"i", e.instance}};
  switch (e.type) {
    case ClusterEventType::kHeartbeat:
      break;
    case ClusterEventType::kInstanceDown:
    case ClusterEventType::kPeerGone:
    case ClusterEventType::kCallEnd:
      j["name"] = e.name;
      break;
    case ClusterEventType::kStreamEnd:
      j["name"] = e.name;
      j["reason"] = e.reason;
      break;
    case ClusterEventType::kPeer:
      j["peer"] = peer_json(e.peer);
      break;
    case ClusterEventType::kStream:
      j["stream"] = stream_json(e.stream);
      break;
    case ClusterEventType::kCall:
      j["call"] = {{"id", e.call.id},
                   {"caller", e.call.caller},
                   {"callee", e.call.callee},
                   {"accepted", e.call.accepted},
                   {"left", e.call.remaining_ms}};
      break;
    case ClusterEventType::kDeliver:
      j["to"] = e.to;
      j["frame"] = e.frame;
      break;
    case ClusterEventType::kIdentity:
      j["name"] = e.name;
      j["key"] = e.key;
      break;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<ClusterEvent, std::string> parse_cluster_event(std::string_view text) {
  auto fail = [](std::string why) { return unexpected(std::move(why)); };
  if (text.size() > kMaxClusterEventBytes) return fail("event too big");
  if (json_nesting_depth(text) > limits::kMaxJsonDepth) return fail("nested too deep");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  try {
    ClusterEvent e;
    const std::string t = str(j, "t", 16);
    bool known = false;
    for (auto& [k, n] : kTypes)
      if (t == n) {
        e.type = k;
        known = true;
      }
    if (!known) return fail("unknown type '" + t + "'");
    e.instance = str(j, "i", kMaxInstanceIdLen);
    if (!is_valid_instance_id(e.instance)) return fail("bad instance id");
    switch (e.type) {
      case ClusterEventType::kHeartbeat:
        break;
      case ClusterEventType::kInstanceDown:
        e.name = str(j, "name", kMaxInstanceIdLen);
        if (!is_valid_instance_id(e.name)) return fail("bad instance id");
        break;
      case ClusterEventType::kPeerGone:
        e.name = name_field(j, "name");
        break;
      case ClusterEventType::kCallEnd:
        e.name = str(j, "name", limits::kMaxIdLen, false);
        break;
      case ClusterEventType::kStreamEnd:
        e.name = name_field(j, "name");
        e.reason = str(j, "reason", limits::kMaxReasonLen);
        break;
      case ClusterEventType::kPeer:
        e.peer = parse_peer(object(j, "peer"));
        break;
      case ClusterEventType::kStream:
        e.stream = parse_stream(object(j, "stream"));
        break;
      case ClusterEventType::kCall: {
        const json& c = object(j, "call");
        e.call.id = str(c, "id", limits::kMaxIdLen, false);
        e.call.caller = name_field(c, "caller");
        e.call.callee = name_field(c, "callee");
        e.call.accepted = boolean(c, "accepted");
        e.call.remaining_ms = num(c, "left", 0, kMaxMs);
        break;
      }
      case ClusterEventType::kDeliver:
        e.to = name_field(j, "to");
        e.frame = str(j, "frame", 2 * limits::kMaxFrameBytes, false);
        break;
      case ClusterEventType::kIdentity:
        e.name = name_field(j, "name");
        // The same strict form a hello's identity_key must have: a store holds one spelling.
        e.key = str(j, "key", kIdentityKeyB64Len, false);
        if (!decode_identity_key(e.key)) return fail("'key' is not 32 bytes in base64");
        break;
    }
    return e;
  } catch (const Bad& b) {
    return fail(b.why);
  } catch (const json::exception& x) {
    return fail(x.what());
  }
}

}  // namespace meshcast::signaling
