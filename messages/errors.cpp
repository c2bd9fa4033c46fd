#include "messages/errors.hpp"

#include <caf/message.hpp>

namespace hm {

bool restartable(errc code) {
  switch (code) {
    case errc::bad_config:
    case errc::unauthorized:
    case errc::device_mismatch:
    case errc::bad_pickle_key:
      return false;
    default:
      return true;
  }
}

const char* to_string(errc code) {
  switch (code) {
    case errc::none: return "none";
    case errc::internal: return "internal";
    case errc::bad_config: return "bad_config";
    case errc::unauthorized: return "unauthorized";
    case errc::store_failed: return "store_failed";
    case errc::device_mismatch: return "device_mismatch";
    case errc::transient: return "transient";
    case errc::injected_fault: return "injected_fault";
    case errc::bad_pickle_key: return "bad_pickle_key";
    case errc::unknown_profile: return "unknown_profile";
    case errc::unavailable: return "unavailable";
    case errc::bad_request: return "bad_request";
    case errc::refused: return "refused";
    case errc::too_large: return "too_large";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string message) {
  return {static_cast<uint8_t>(code), error_category,
          caf::make_message(std::move(message))};
}

caf::error make_error(errc code) {
  return {static_cast<uint8_t>(code), error_category};
}

std::string render_error(uint8_t code, caf::atom_value, const caf::message& context) {
  std::string out = "hermes.";
  out += to_string(static_cast<errc>(code));
  if (context.match_elements<std::string>()) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

std::string error_text(const caf::error& err) {
  if (!err)
    return {};
  if (err.category() == error_category) {
    if (err.context().match_elements<std::string>())
      return err.context().get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  return caf::to_string(err);
}

} // namespace hm
