#include "mesh/link/restart_description.hpp"

#include <nlohmann/json.hpp>

namespace meshcast::link {

nlohmann::json RestartDescription::to_json() const {
  nlohmann::json j = description.to_json();
  j["generation"] = generation;
  return j;
}

Expected<uint32_t, std::string> parse_ice_generation(const nlohmann::json& payload) {
  if (!payload.is_object()) return unexpected("payload is not a JSON object");
  auto g = payload.find("generation");
  if (g == payload.end()) return 0u;
  // JSON numbers arrive as signed, unsigned or float: only a whole number in range counts.
  if (g->is_number_unsigned() && g->get<uint64_t>() <= kMaxIceGeneration)
    return static_cast<uint32_t>(g->get<uint64_t>());
  if (g->is_number_integer() && g->get<int64_t>() >= 0 && g->get<int64_t>() <= kMaxIceGeneration)
    return static_cast<uint32_t>(g->get<int64_t>());
  return unexpected("generation must be an integer 0.." + std::to_string(kMaxIceGeneration));
}

Expected<RestartDescription, std::string> RestartDescription::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return unexpected("restart is not a JSON object");
  if (!j.contains("generation")) return unexpected("restart has no generation");
  auto g = parse_ice_generation(j);
  if (!g) return unexpected(std::move(g).error());
  if (*g == 0) return unexpected("restart generation must be >= 1 (0 is the first offer/answer)");
  auto d = SessionDescription::from_json(j);
  if (!d) return unexpected(std::move(d).error());
  return RestartDescription{*g, std::move(*d)};
}

Expected<RestartDescription, std::string> RestartDescription::parse(std::string_view json_text) {
  if (json_text.size() > kMaxDescriptionBytes)
    return unexpected("restart larger than " + std::to_string(kMaxDescriptionBytes) + " bytes");
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return unexpected("restart is not valid JSON");
  return from_json(j);
}

}  // namespace meshcast::link
