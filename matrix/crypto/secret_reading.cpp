#include "matrix/crypto/secret_reading.hpp"

#include "matrix/client_api.hpp"

namespace hm::matrix::crypto {

namespace {

/// The account data content an answer carries, or why not: `missing` and how it failed.
std::variant<nlohmann::json, std::string> content_of(const result<http_response>& answer,
                                                     const std::string& missing) {
  if (!answer)
    return missing + " (" + to_string(answer.error()) + ")";
  auto content = parse_account_data(answer.value());
  if (!content)
    return missing + " (unreadable)";
  return std::move(content).value();
}

} // namespace

secret_reading::secret_reading(std::string user_id, std::string_view recovery_key,
                               std::string name, std::string what)
  : user_id_(std::move(user_id)), name_(std::move(name)), what_(std::move(what)) {
  if (auto key = decode_recovery_key(recovery_key))
    storage_key_.emplace(std::move(key).value());
}

secret_reading::step secret_reading::read(const std::string& type) {
  return perform{get_account_data_request(user_id_, type)};
}

secret_reading::step secret_reading::start() {
  phase_ = phase::done;
  if (!storage_key_)
    return failure{"MATRIX_RECOVERY_KEY is not a recovery key (it looks like 'EsT1 H3Wm ...', "
                   "as Element shows it)"};
  phase_ = phase::default_key;
  return read("m.secret_storage.default_key");
}

secret_reading::step secret_reading::answer(const result<http_response>& answer) {
  auto fail = [this](std::string why) {
    phase_ = phase::done;
    return failure{std::move(why)};
  };
  switch (phase_) {
    case phase::default_key: {
      auto def = content_of(answer, "no default secret storage key");
      if (auto* why = std::get_if<std::string>(&def))
        return fail(*why);
      auto id = std::get<nlohmann::json>(def).value("key", std::string{});
      if (id.empty())
        return fail("no default secret storage key");
      key_id_ = id;
      phase_ = phase::key_description;
      return read("m.secret_storage.key." + key_id_);
    }
    case phase::key_description: {
      auto description = content_of(answer, "no description of the secret storage key");
      if (auto* why = std::get_if<std::string>(&description))
        return fail(*why);
      if (!secret_storage_key_matches(*storage_key_, std::get<nlohmann::json>(description)))
        return fail("MATRIX_RECOVERY_KEY is not the key of this account's secret storage");
      phase_ = phase::secret;
      return read(name_);
    }
    case phase::secret: {
      auto stored = content_of(answer, "no " + what_ + " in secret storage");
      if (auto* why = std::get_if<std::string>(&stored))
        return fail(*why);
      auto value = decrypt_secret(*storage_key_, key_id_, name_, std::get<nlohmann::json>(stored));
      if (!value)
        return fail("the " + what_ + " in secret storage cannot be read with this key");
      phase_ = phase::done;
      return secret{std::move(value).value()};
    }
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
