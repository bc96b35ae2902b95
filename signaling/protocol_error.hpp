// Error codes sent in {"type":"error","code":...}; the list is documented in docs/protocol.md.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace meshcast::signaling {

namespace err {
// Framing / validation (MessageValidator).
inline constexpr const char* kBadJson = "bad_json";          // not JSON, or nested too deep
inline constexpr const char* kNotObject = "not_object";      // JSON but not an object
inline constexpr const char* kNotText = "not_text";          // binary WebSocket frame
inline constexpr const char* kUnknownType = "unknown_type";  // "type" not in the message list
inline constexpr const char* kMissingField = "missing_field";
inline constexpr const char* kBadField = "bad_field";  // wrong JSON type or value out of range
inline constexpr const char* kTooLong = "too_long";    // string/array longer than its limit
inline constexpr const char* kTooLarge = "too_large";  // frame > 64 KiB or payload > 16 KiB
inline constexpr const char* kRateLimited = "rate_limited";
// Session.
inline constexpr const char* kNotRegistered = "not_registered";  // request before hello
inline constexpr const char* kAlreadyRegistered = "already_registered";
inline constexpr const char* kDuplicatePeerId = "duplicate_peer_id";
inline constexpr const char* kBadResume = "bad_resume";  // resume token wrong or for another id
inline constexpr const char* kLimitReached = "limit_reached";  // server-wide caps
// The id is bound to an identity key other than the hello's (or the hello shows none).
inline constexpr const char* kIdTaken = "id_taken";
// identity_sig does not verify (wrong key, another nonce or peer id).
inline constexpr const char* kBadIdentity = "bad_identity";
// Streams.
inline constexpr const char* kStreamExists = "stream_exists";
inline constexpr const char* kNoSuchStream = "no_such_stream";
inline constexpr const char* kAccessDenied = "access_denied";  // private stream, key missing/wrong
inline constexpr const char* kNotOwner = "not_owner";
inline constexpr const char* kNotMember = "not_member";
// Relay and calls.
inline constexpr const char* kPeerOffline = "peer_offline";
inline constexpr const char* kNotRelated = "not_related";    // relay between peers with no reason
inline constexpr const char* kCallRefused = "call_refused";  // callee's accept_calls policy
inline constexpr const char* kCallExists = "call_exists";
inline constexpr const char* kNoSuchCall = "no_such_call";
inline constexpr const char* kBadCallState = "bad_call_state";
}  // namespace err

// A rejected message: everything needed to build the error reply.
struct ProtocolError {
  std::string code;
  std::string message;
  nlohmann::json ref_id;  // the request's "id" if it could be read, else null
  std::string ref_type;   // the request's "type" if it could be read

  nlohmann::json to_json() const {
    nlohmann::json j = {{"type", "error"}, {"code", code}, {"message", message}};
    if (!ref_id.is_null()) j["ref_id"] = ref_id;
    if (!ref_type.empty()) j["ref_type"] = ref_type;
    return j;
  }
};

}  // namespace meshcast::signaling
