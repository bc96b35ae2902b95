#include "signaling/message_validator.hpp"

#include <array>
#include <utility>

#include "signaling/identity_key.hpp"
#include "signaling/protocol_limits.hpp"

namespace meshcast::signaling {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<MsgType, const char*>, 17> kNames = {{
    {MsgType::kHello, "hello"},
    {MsgType::kStreamCreate, "stream_create"},
    {MsgType::kStreamList, "stream_list"},
    {MsgType::kStreamDescribe, "stream_describe"},
    {MsgType::kStreamUpdate, "stream_update"},
    {MsgType::kStreamEnd, "stream_end"},
    {MsgType::kJoin, "join"},
    {MsgType::kNeighbours, "neighbours"},
    {MsgType::kRelay, "relay"},
    {MsgType::kCallInvite, "call_invite"},
    {MsgType::kCallAccept, "call_accept"},
    {MsgType::kCallDecline, "call_decline"},
    {MsgType::kCallCancel, "call_cancel"},
    {MsgType::kCallHangup, "call_hangup"},
    {MsgType::kReport, "report"},
    {MsgType::kLeave, "leave"},
    {MsgType::kPing, "ping"},
}};

// Thrown inside this file only; validate_message() converts it to a ProtocolError.
struct Reject {
  const char* code;
  std::string message;
};

[[noreturn]] void reject(const char* code, std::string msg) { throw Reject{code, std::move(msg)}; }

const json* field(const json& o, const char* name, bool required) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) {
    if (required) reject(err::kMissingField, std::string("missing field '") + name + "'");
    return nullptr;
  }
  return &*it;
}

const json* str(const json& o, const char* name, bool required, std::size_t min_len,
                std::size_t max_len) {
  const json* v = field(o, name, required);
  if (!v) return nullptr;
  if (!v->is_string()) reject(err::kBadField, std::string("'") + name + "' must be a string");
  auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len)
    reject(err::kTooLong, std::string("'") + name + "' longer than " + std::to_string(max_len));
  if (s.size() < min_len)
    reject(err::kBadField, std::string("'") + name + "' shorter than " + std::to_string(min_len));
  return v;
}

void name_field(const json& o, const char* field_name, bool required) {
  const json* v = str(o, field_name, required, 1, limits::kMaxIdLen);
  if (v && !is_valid_name(v->get_ref<const std::string&>()))
    reject(err::kBadField, std::string("'") + field_name + "' may only hold A-Z a-z 0-9 _ . -");
}

void int_field(const json& o, const char* name, bool required, long long min, long long max) {
  const json* v = field(o, name, required);
  if (!v) return;
  if (!v->is_number_integer())
    reject(err::kBadField, std::string("'") + name + "' must be an integer");
  long long x = v->is_number_unsigned()
                    ? (v->get<unsigned long long>() > (1ull << 62)
                           ? (1ll << 62)
                           : static_cast<long long>(v->get<unsigned long long>()))
                    : v->get<long long>();
  if (x < min || x > max)
    reject(err::kBadField, std::string("'") + name + "' must be in [" + std::to_string(min) + ", " +
                               std::to_string(max) + "]");
}

void bool_field(const json& o, const char* name) {
  const json* v = field(o, name, false);
  if (v && !v->is_boolean())
    reject(err::kBadField, std::string("'") + name + "' must be a boolean");
}

void name_list(const json& o, const char* name) {
  const json* v = field(o, name, false);
  if (!v) return;
  if (!v->is_array()) reject(err::kBadField, std::string("'") + name + "' must be an array");
  if (v->size() > limits::kMaxListLen)
    reject(err::kTooLong, std::string("'") + name + "' has more than " +
                              std::to_string(limits::kMaxListLen) + " entries");
  for (auto& e : *v) {
    if (!e.is_string() || e.get_ref<const std::string&>().size() > limits::kMaxIdLen ||
        !is_valid_name(e.get_ref<const std::string&>()))
      reject(err::kBadField, std::string("'") + name + "' entries must be peer ids");
  }
}

std::size_t dumped_size(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

void codec_field(const json& o, bool required) {
  const json* v = field(o, "codec", required);
  if (!v) return;
  if (!v->is_object()) reject(err::kBadField, "'codec' must be an object");
  if (dumped_size(*v) > limits::kMaxCodecBytes)
    reject(err::kTooLarge, "'codec' larger than " + std::to_string(limits::kMaxCodecBytes));
}

// hello's proof of identity: both fields or neither; base64 of exactly 32 and 64 bytes.
void identity_fields(const json& o) {
  const json* key = str(o, "identity_key", false, 1, kIdentityKeyB64Len);
  const json* sig = str(o, "identity_sig", key != nullptr, 1, kIdentitySigB64Len);
  if (sig && !key) reject(err::kMissingField, "missing field 'identity_key'");
  if (key && !decode_identity_key(key->get_ref<const std::string&>()))
    reject(err::kBadField, "'identity_key' must be 32 bytes in base64");
  if (sig && !base64_decode(sig->get_ref<const std::string&>(), 64))
    reject(err::kBadField, "'identity_sig' must be 64 bytes in base64");
}

void call_id(const json& o) { str(o, "call_id", true, 1, limits::kMaxIdLen); }

void check_body(MsgType t, const json& o) {
  switch (t) {
    case MsgType::kHello: {
      name_field(o, "peer_id", false);
      const json* role = str(o, "role", true, 1, 16);
      auto& r = role->get_ref<const std::string&>();
      if (r != "viewer" && r != "broadcaster" && r != "caller")
        reject(err::kBadField, "'role' must be viewer, broadcaster or caller");
      int_field(o, "upload_kbps", false, 0, limits::kMaxUploadKbps);
      if (str(o, "resume", false, 1, limits::kMaxKeyLen) && !o.contains("peer_id"))
        reject(err::kMissingField, "'resume' needs the session's 'peer_id'");
      if (const json* a = field(o, "accept_calls", false)) {
        if (a->is_string()) {
          auto& s = a->get_ref<const std::string&>();
          if (s != "none" && s != "all")
            reject(err::kBadField, "'accept_calls' must be \"none\", \"all\" or a list of ids");
        } else {
          name_list(o, "accept_calls");
        }
      }
      identity_fields(o);
      break;
    }
    case MsgType::kStreamCreate: {
      name_field(o, "name", true);
      const json* pk = str(o, "public_key", true, 1, limits::kMaxKeyLen);
      if (!decode_public_key(pk->get_ref<const std::string&>()))
        reject(err::kBadField, "'public_key' must be 32 bytes as hex or base64");
      codec_field(o, false);
      int_field(o, "bitrate_kbps", false, 1, limits::kMaxBitrateKbps);
      str(o, "secret", false, 1, limits::kMaxKeyLen);
      bool_field(o, "private");
      bool priv = o.contains("private") && o["private"].is_boolean() && o["private"].get<bool>();
      const json* vk = str(o, "view_key", priv, limits::kMinViewKeyLen, limits::kMaxKeyLen);
      (void)vk;
      break;
    }
    case MsgType::kStreamList:
      name_field(o, "after", false);
      int_field(o, "limit", false, 1, limits::kMaxListPage);
      break;
    case MsgType::kLeave:
    case MsgType::kPing:
      break;
    case MsgType::kStreamDescribe:
      name_field(o, "name", true);
      str(o, "view_key", false, 0, limits::kMaxKeyLen);
      break;
    case MsgType::kStreamUpdate:
      name_field(o, "name", true);
      str(o, "secret", false, 0, limits::kMaxKeyLen);
      codec_field(o, false);
      int_field(o, "bitrate_kbps", false, 1, limits::kMaxBitrateKbps);
      bool_field(o, "private");
      str(o, "view_key", false, limits::kMinViewKeyLen, limits::kMaxKeyLen);
      break;
    case MsgType::kStreamEnd:
      name_field(o, "name", true);
      str(o, "secret", false, 0, limits::kMaxKeyLen);
      break;
    case MsgType::kJoin:
    case MsgType::kNeighbours:
      name_field(o, "stream", true);
      str(o, "view_key", false, 0, limits::kMaxKeyLen);
      int_field(o, "max", false, 1, limits::kMaxNeighbours);
      name_list(o, "exclude");
      break;
    case MsgType::kRelay: {
      name_field(o, "to", true);
      const json* kind = str(o, "kind", true, 1, limits::kMaxKindLen);
      for (char c : kind->get_ref<const std::string&>()) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
          reject(err::kBadField, "'kind' may only hold a-z 0-9 _ -");
      }
      const json* p = field(o, "payload", false);
      if (p && dumped_size(*p) > limits::kMaxRelayPayloadBytes)
        reject(err::kTooLarge,
               "'payload' larger than " + std::to_string(limits::kMaxRelayPayloadBytes));
      break;
    }
    case MsgType::kCallInvite:
      name_field(o, "to", true);
      int_field(o, "timeout_ms", false, limits::kMinCallTimeoutMs, limits::kMaxCallTimeoutMs);
      break;
    case MsgType::kCallAccept:
    case MsgType::kCallCancel:
    case MsgType::kCallHangup:
      call_id(o);
      break;
    case MsgType::kCallDecline:
      call_id(o);
      str(o, "reason", false, 0, limits::kMaxReasonLen);
      break;
    case MsgType::kReport: {
      name_field(o, "stream", false);
      if (const json* p = field(o, "partners", false)) {
        if (!p->is_array()) reject(err::kBadField, "'partners' must be an array");
        if (p->size() > limits::kMaxListLen) reject(err::kTooLong, "'partners' too long");
        for (auto& e : *p) {
          if (!e.is_object()) reject(err::kBadField, "'partners' entries must be objects");
          name_field(e, "id", true);
          const json* role = str(e, "role", true, 1, 8);
          auto& r = role->get_ref<const std::string&>();
          if (r != "parent" && r != "child" && r != "pull")
            reject(err::kBadField, "partner 'role' must be parent, child or pull");
          // Media bytes received from that partner since the previous report: what confirms
          // the partner's upload to the tracker.
          int_field(e, "rx_bytes", false, 0, limits::kMaxReportRxBytes);
        }
      }
      if (const json* s = field(o, "stats", false)) {
        if (!s->is_object()) reject(err::kBadField, "'stats' must be an object");
        if (s->size() > limits::kMaxStatsKeys) reject(err::kTooLong, "'stats' has too many keys");
        for (auto it = s->begin(); it != s->end(); ++it) {
          if (it.key().empty() || it.key().size() > limits::kMaxIdLen)
            reject(err::kTooLong, "'stats' key empty or too long");
          // null = "not known yet" (e.g. lag before the first segment played).
          if (!it.value().is_number() && !it.value().is_null())
            reject(err::kBadField, "'stats' values must be numbers (or null)");
        }
      }
      break;
    }
  }
}

}  // namespace

const char* msg_type_name(MsgType t) {
  for (auto& [k, n] : kNames)
    if (k == t) return n;
  return "?";
}

std::optional<MsgType> msg_type_from_name(std::string_view name) {
  for (auto& [k, n] : kNames)
    if (name == n) return k;
  return std::nullopt;
}

bool is_valid_name(std::string_view s) {
  if (s.empty() || s.size() > limits::kMaxIdLen) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool decode_public_key(std::string_view s) {
  auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  if (s.size() == 64) {
    bool all_hex = true;
    for (char c : s) all_hex = all_hex && is_hex(c);
    if (all_hex) return true;
  }
  // 32 bytes in base64: 43 symbols (+ one '=' when padded); standard or URL alphabet.
  std::string_view body = s;
  if (body.size() == 44 && body.back() == '=') body.remove_suffix(1);
  if (body.size() != 43) return false;
  for (char c : body) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

int json_nesting_depth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

Expected<Request, ProtocolError> validate_message(std::string_view text) {
  // Filled as far as the frame can be read, so the error reply can name the request.
  ProtocolError error;
  auto fail = [&](const char* code, std::string msg) {
    error.code = code;
    error.message = std::move(msg);
    return unexpected(std::move(error));
  };
  if (text.size() > limits::kMaxFrameBytes)
    return fail(err::kTooLarge,
                "message larger than " + std::to_string(limits::kMaxFrameBytes) + " bytes");
  // Bound nesting before parsing: serialising deep values later would recurse.
  if (json_nesting_depth(text) > limits::kMaxJsonDepth)
    return fail(err::kBadJson, "nested deeper than " + std::to_string(limits::kMaxJsonDepth));
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(err::kBadJson, "not valid JSON");
  if (!j.is_object()) return fail(err::kNotObject, "message must be a JSON object");

  // Read the request id first so that every later error can refer to it.
  if (auto it = j.find("id"); it != j.end() && !it->is_null()) {
    bool ok_id =
        (it->is_string() && it->get_ref<const std::string&>().size() <= limits::kMaxIdLen) ||
        it->is_number_integer();
    if (!ok_id) return fail(err::kBadField, "'id' must be an integer or a string of <= 64 chars");
    error.ref_id = *it;
  }
  auto t = j.find("type");
  if (t == j.end() || t->is_null()) return fail(err::kMissingField, "missing field 'type'");
  if (!t->is_string()) return fail(err::kBadField, "'type' must be a string");
  auto& tname = t->get_ref<const std::string&>();
  if (tname.size() <= limits::kMaxIdLen) error.ref_type = tname;
  auto type = msg_type_from_name(tname);
  if (!type) return fail(err::kUnknownType, "unknown message type");
  try {
    check_body(*type, j);
  } catch (const Reject& e) {
    return fail(e.code, e.message);
  } catch (const std::exception& e) {  // defensive: nlohmann type errors
    return fail(err::kBadField, "malformed message");
  }
  json id = std::move(error.ref_id);
  return Request{*type, std::move(id), std::move(j)};
}

}  // namespace meshcast::signaling
