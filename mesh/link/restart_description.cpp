#include "mesh/link/restart_description.hpp"

#include <nlohmann/json.hpp>

namespace meshcast::link {

nlohmann::json RestartDescription::to_json() const {
  nlohmann::json j = description.to_json();
  j["generation"] = generation;
  return j;
}

std::optional<uint32_t> parse_ice_generation(const nlohmann::json& payload, std::string& error) {
  if (!payload.is_object()) {
    error = "payload is not a JSON object";
    return std::nullopt;
  }
  auto g = payload.find("generation");
  if (g == payload.end()) return 0u;
  // JSON numbers arrive as signed, unsigned or float: only a whole number in range counts.
  if (g->is_number_unsigned() && g->get<uint64_t>() <= kMaxIceGeneration)
    return static_cast<uint32_t>(g->get<uint64_t>());
  if (g->is_number_integer() && g->get<int64_t>() >= 0 && g->get<int64_t>() <= kMaxIceGeneration)
    return static_cast<uint32_t>(g->get<int64_t>());
  error = "generation must be an integer 0.." + std::to_string(kMaxIceGeneration);
  return std::nullopt;
}

std::optional<RestartDescription> RestartDescription::from_json(const nlohmann::json& j,
                                                                std::string& error) {
  if (!j.is_object()) {
    error = "restart is not a JSON object";
    return std::nullopt;
  }
  if (!j.contains("generation")) {
    error = "restart has no generation";
    return std::nullopt;
  }
  auto g = parse_ice_generation(j, error);
  if (!g) return std::nullopt;
  if (*g == 0) {
    error = "restart generation must be >= 1 (0 is the first offer/answer)";
    return std::nullopt;
  }
  auto d = SessionDescription::from_json(j, error);
  if (!d) return std::nullopt;
  return RestartDescription{*g, std::move(*d)};
}

std::optional<RestartDescription> RestartDescription::parse(std::string_view json_text,
                                                            std::string& error) {
  if (json_text.size() > kMaxDescriptionBytes) {
    error = "restart larger than " + std::to_string(kMaxDescriptionBytes) + " bytes";
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "restart is not valid JSON";
    return std::nullopt;
  }
  return from_json(j, error);
}

}  // namespace meshcast::link
