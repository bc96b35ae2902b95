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

bool valid_fingerprint(std::string_view fp, std::string& error) {
  constexpr std::string_view kAlg = "sha-256 ";
  if (fp.substr(0, kAlg.size()) != kAlg) {
    error = "fingerprint must start with 'sha-256 '";
    return false;
  }
  fp.remove_prefix(kAlg.size());
  if (fp.size() != 32 * 3 - 1) {
    error = "fingerprint must have 32 colon-separated hex pairs";
    return false;
  }
  for (size_t i = 0; i < fp.size(); ++i) {
    bool ok = (i % 3 == 2) ? fp[i] == ':' : is_hex(fp[i]);
    if (!ok) {
      error = "fingerprint has a bad character at hex offset " + std::to_string(i);
      return false;
    }
  }
  return true;
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

std::optional<SessionDescription> SessionDescription::parse(std::string_view text,
                                                            std::string& error) {
  if (text.size() > kMaxDescriptionBytes) {
    error = "session description larger than 16 KiB (" + std::to_string(text.size()) + " bytes)";
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "session description is not valid JSON";
    return std::nullopt;
  }
  return from_json(j, error);
}

std::optional<SessionDescription> SessionDescription::from_json(const nlohmann::json& j,
                                                                std::string& error) {
  if (!j.is_object()) {
    error = "session description must be a JSON object";
    return std::nullopt;
  }
  // Objects built in memory get the same size limit as text from the wire.
  if (j.dump().size() > kMaxDescriptionBytes) {
    error = "session description larger than 16 KiB";
    return std::nullopt;
  }
  auto str_field = [&](const char* name, std::string& out) {
    auto it = j.find(name);
    if (it == j.end()) {
      error = std::string("missing field '") + name + "'";
      return false;
    }
    if (!it->is_string()) {
      error = std::string("field '") + name + "' must be a string";
      return false;
    }
    out = it->get<std::string>();
    return true;
  };

  SessionDescription d;
  std::string setup;
  if (!str_field("ufrag", d.ufrag) || !str_field("pwd", d.pwd) ||
      !str_field("fingerprint", d.fingerprint) || !str_field("setup", setup))
    return std::nullopt;
  if (!valid_ice_string(d.ufrag, 4, 256)) {
    error = "ufrag must be 4..256 ice-chars [A-Za-z0-9+/]";
    return std::nullopt;
  }
  if (!valid_ice_string(d.pwd, 22, 256)) {
    error = "pwd must be 22..256 ice-chars [A-Za-z0-9+/]";
    return std::nullopt;
  }
  std::string fp_error;
  if (!valid_fingerprint(d.fingerprint, fp_error)) {
    error = "bad fingerprint: " + fp_error;
    return std::nullopt;
  }
  d.fingerprint = normalize_fingerprint(d.fingerprint);
  auto s = parse_setup(setup);
  if (!s) {
    error = "setup must be actpass, active or passive";
    return std::nullopt;
  }
  d.setup = *s;

  auto cands = j.find("candidates");
  if (cands == j.end()) {
    error = "missing field 'candidates'";
    return std::nullopt;
  }
  if (!cands->is_array()) {
    error = "field 'candidates' must be an array";
    return std::nullopt;
  }
  if (cands->size() > kMaxCandidates) {
    error = "too many candidates (" + std::to_string(cands->size()) + " > 32)";
    return std::nullopt;
  }
  for (size_t i = 0; i < cands->size(); ++i) {
    const auto& c = (*cands)[i];
    if (!c.is_string()) {
      error = "candidates[" + std::to_string(i) + "] must be a string";
      return std::nullopt;
    }
    std::string cerr;
    std::string line = c.get<std::string>();
    if (!parse_candidate(line, nullptr, cerr)) {
      error = "candidates[" + std::to_string(i) + "]: " + cerr;
      return std::nullopt;
    }
    if (line.rfind("a=", 0) == 0) line.erase(0, 2);
    d.candidates.push_back(std::move(line));
  }
  if (auto eoc = j.find("end_of_candidates"); eoc != j.end()) {
    if (!eoc->is_boolean()) {
      error = "field 'end_of_candidates' must be a boolean";
      return std::nullopt;
    }
    d.end_of_candidates = eoc->get<bool>();
  }
  return d;
}

}  // namespace meshcast::link
