#include "mesh/link/session_description.hpp"

#include <nlohmann/json.hpp>

#include "mesh/link/candidate.hpp"

namespace meshcast::link {
namespace {

bool valid_ice_string(const std::string& s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

const char* to_string(DtlsSetup s) {
  switch (s) {
    case DtlsSetup::kActpass:
      return "actpass";
    case DtlsSetup::kActive:
      return "active";
    case DtlsSetup::kPassive:
      return "passive";
  }
  return "?";
}

std::optional<DtlsSetup> parse_setup(std::string_view s) {
  if (s == "actpass") return DtlsSetup::kActpass;
  if (s == "active") return DtlsSetup::kActive;
  if (s == "passive") return DtlsSetup::kPassive;
  return std::nullopt;
}

Expected<void, std::string> valid_fingerprint(std::string_view fp) {
  constexpr std::string_view kAlg = "sha-256 ";
  if (fp.substr(0, kAlg.size()) != kAlg)
    return unexpected("fingerprint must start with 'sha-256 '");
  fp.remove_prefix(kAlg.size());
  if (fp.size() != 32 * 3 - 1)
    return unexpected("fingerprint must have 32 colon-separated hex pairs");
  for (size_t i = 0; i < fp.size(); ++i) {
    bool ok = (i % 3 == 2) ? fp[i] == ':' : is_hex(fp[i]);
    if (!ok)
      return unexpected("fingerprint has a bad character at hex offset " + std::to_string(i));
  }
  return {};
}

std::string normalize_fingerprint(std::string_view fp) {
  std::string r(fp);
  for (size_t i = 8; i < r.size(); ++i)
    if (r[i] >= 'a' && r[i] <= 'f') r[i] = static_cast<char>(r[i] - 'a' + 'A');
  return r;
}

nlohmann::json SessionDescription::to_json() const {
  return nlohmann::json{{"ufrag", ufrag},
                        {"pwd", pwd},
                        {"candidates", candidates},
                        {"end_of_candidates", end_of_candidates},
                        {"fingerprint", fingerprint},
                        {"setup", to_string(setup)}};
}

std::string SessionDescription::to_json_string() const { return to_json().dump(); }

Expected<SessionDescription, std::string> SessionDescription::parse(std::string_view text) {
  if (text.size() > kMaxDescriptionBytes)
    return unexpected("session description larger than 16 KiB (" + std::to_string(text.size()) +
                      " bytes)");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return unexpected("session description is not valid JSON");
  return from_json(j);
}

Expected<SessionDescription, std::string> SessionDescription::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return unexpected("session description must be a JSON object");
  // Objects built in memory get the same size limit as text from the wire.
  if (j.dump().size() > kMaxDescriptionBytes)
    return unexpected("session description larger than 16 KiB");
  // The string field `name`, or why it cannot be read.
  auto str_field = [&](const char* name) -> Expected<std::string, std::string> {
    auto it = j.find(name);
    if (it == j.end()) return unexpected(std::string("missing field '") + name + "'");
    if (!it->is_string()) return unexpected(std::string("field '") + name + "' must be a string");
    return it->get<std::string>();
  };

  SessionDescription d;
  auto ufrag = str_field("ufrag");
  if (!ufrag) return unexpected(std::move(ufrag).error());
  auto pwd = str_field("pwd");
  if (!pwd) return unexpected(std::move(pwd).error());
  auto fingerprint = str_field("fingerprint");
  if (!fingerprint) return unexpected(std::move(fingerprint).error());
  auto setup = str_field("setup");
  if (!setup) return unexpected(std::move(setup).error());
  d.ufrag = std::move(*ufrag);
  d.pwd = std::move(*pwd);
  d.fingerprint = std::move(*fingerprint);
  if (!valid_ice_string(d.ufrag, 4, 256))
    return unexpected("ufrag must be 4..256 ice-chars [A-Za-z0-9+/]");
  if (!valid_ice_string(d.pwd, 22, 256))
    return unexpected("pwd must be 22..256 ice-chars [A-Za-z0-9+/]");
  if (auto fp = valid_fingerprint(d.fingerprint); !fp)
    return unexpected("bad fingerprint: " + fp.error());
  d.fingerprint = normalize_fingerprint(d.fingerprint);
  auto s = parse_setup(*setup);
  if (!s) return unexpected("setup must be actpass, active or passive");
  d.setup = *s;

  auto cands = j.find("candidates");
  if (cands == j.end()) return unexpected("missing field 'candidates'");
  if (!cands->is_array()) return unexpected("field 'candidates' must be an array");
  if (cands->size() > kMaxCandidates)
    return unexpected("too many candidates (" + std::to_string(cands->size()) + " > 32)");
  for (size_t i = 0; i < cands->size(); ++i) {
    const auto& c = (*cands)[i];
    if (!c.is_string()) return unexpected("candidates[" + std::to_string(i) + "] must be a string");
    std::string line = c.get<std::string>();
    if (auto parsed = parse_candidate(line); !parsed)
      return unexpected("candidates[" + std::to_string(i) + "]: " + parsed.error());
    if (line.rfind("a=", 0) == 0) line.erase(0, 2);
    d.candidates.push_back(std::move(line));
  }
  if (auto eoc = j.find("end_of_candidates"); eoc != j.end()) {
    if (!eoc->is_boolean()) return unexpected("field 'end_of_candidates' must be a boolean");
    d.end_of_candidates = eoc->get<bool>();
  }
  return d;
}

}  // namespace meshcast::link
