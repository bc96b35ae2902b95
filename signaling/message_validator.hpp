// Pure validation of one client->server text frame: no I/O, no state, so it is unit-tested
// with tables of malformed messages and fuzzed (tests/fuzz/signaling/).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/base/expected.hpp"
#include "signaling/protocol_error.hpp"

namespace meshcast::signaling {

enum class MsgType {
  kHello,
  kStreamCreate,
  kStreamList,
  kStreamDescribe,
  kStreamUpdate,
  kStreamEnd,
  kJoin,
  kNeighbours,
  kRelay,
  kCallInvite,
  kCallAccept,
  kCallDecline,
  kCallCancel,
  kCallHangup,
  kReport,
  kLeave,
  kPing,
};

const char* msg_type_name(MsgType t);
std::optional<MsgType> msg_type_from_name(std::string_view name);

// A message that passed validation: every field the handler reads has the right JSON type
// and is within its limits (see docs/protocol.md).
struct Request {
  MsgType type;
  nlohmann::json id;  // null when absent; otherwise a string (<= 64 chars) or an integer
  nlohmann::json body;
};

// Parses and validates one frame. Never throws. A rejection carries the reply to send,
// with the request's id and type when they could be read.
Expected<Request, ProtocolError> validate_message(std::string_view text);

// Helpers shared with the core (pure).
bool is_valid_name(std::string_view s);         // peer ids and stream names
bool decode_public_key(std::string_view s);     // 32 bytes as hex (64) or base64 (43/44)
int json_nesting_depth(std::string_view text);  // max [ / { depth outside strings

}  // namespace meshcast::signaling
