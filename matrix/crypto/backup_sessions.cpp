#include "matrix/crypto/backup_sessions.hpp"

#include "matrix/crypto/secure_random.hpp"
#include <nlohmann/json.hpp>

namespace hm::matrix::crypto {

namespace {

/// The forwarding chain a row stores as JSON; empty when it is unreadable.
std::vector<std::string> forwarding_chain_of(const std::string& text) {
  std::vector<std::string> chain;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array())
    return chain;
  for (auto& k : j)
    if (k.is_string())
      chain.push_back(k.get<std::string>());
  return chain;
}

std::string where(const std::string& room_id, const std::string& session_id) {
  return "Megolm session " + session_id + " of " + room_id;
}

} // namespace

result<inbound_group_row> inbound_row(const inbound_group_session& session,
                                      const pickle_key& key, std::string sender_user,
                                      std::string backed_up_version) {
  auto pickle = session.pickle(key);
  if (!pickle)
    return hm::unexpected{pickle.error()};
  auto& info = session.info();
  return inbound_group_row{info.room_id,
                           info.session_id,
                           info.sender_key,
                           info.sender_ed25519,
                           nlohmann::json(info.forwarding_chain).dump(),
                           std::move(pickle).value(),
                           static_cast<int64_t>(session.first_known_index()),
                           std::move(sender_user),
                           std::move(backed_up_version)};
}

backup_batch next_backup_batch(crypto_store& store, const pickle_key& key,
                               const backup_public_key& backup, const std::string& version,
                               const std::string& own_curve25519, std::size_t limit) {
  backup_batch batch;
  for (auto& row : store.sessions_to_back_up(version, limit)) {
    backed_up_mark mark{row.room_id, row.session_id, row.sender_key, row.first_known_index,
                        version};
    inbound_group_session_info info{row.room_id, row.session_id, row.sender_key,
                                    row.sender_ed25519, forwarding_chain_of(row.forwarding_chain)};
    auto session = inbound_group_session::from_pickle(row.pickle, key, std::move(info));
    if (!session) {
      batch.skipped.push_back(where(row.room_id, row.session_id) + ": unreadable ("
                              + session.error().errcode + ")");
      batch.marks.push_back(std::move(mark));
      continue;
    }
    auto data = encrypt_session_for_backup(backup, session.value(),
                                           row.sender_key == own_curve25519);
    if (!data) {
      // A libolm failure while encrypting: tried again with the next batch.
      batch.skipped.push_back(where(row.room_id, row.session_id) + ": cannot encrypt ("
                              + data.error().errcode + ")");
      continue;
    }
    batch.sessions.push_back({row.room_id, row.session_id, std::move(data).value()});
    batch.marks.push_back(std::move(mark));
  }
  return batch;
}

restored_session restore_session(crypto_store& store, const pickle_key& key,
                                 const backup_key& backup, const std::string& version,
                                 const backed_up_session& data, crypto_changes& changes) {
  using outcome = restored_session::outcome;
  auto skipped = [&](const std::string& why) {
    return restored_session{outcome::skipped, where(data.room_id, data.session_id) + ": " + why};
  };
  auto decrypted = decrypt_backed_up_session(backup, data.data);
  if (!decrypted)
    return skipped("cannot decrypt it (" + decrypted.error().errcode + ")");
  auto session = import_backed_up_session(data.room_id, data.session_id, decrypted.value());
  wipe_memory(decrypted->session_key.data(), decrypted->session_key.size());
  if (!session)
    return skipped("not a usable session (" + session.error().errcode + ")");
  auto index = static_cast<int64_t>(session->first_known_index());
  for (auto& held : store.inbound_group_sessions(data.room_id, data.session_id))
    if (held.sender_key == session->info().sender_key && held.first_known_index <= index)
      return {outcome::kept, {}};
  for (auto& pending : changes.inbound)
    if (pending.room_id == data.room_id && pending.session_id == data.session_id
        && pending.sender_key == session->info().sender_key && pending.first_known_index <= index)
      return {outcome::kept, {}};
  auto row = inbound_row(session.value(), key, "", version);
  if (!row)
    return skipped("cannot pickle it (" + row.error().errcode + ")");
  changes.inbound.push_back(std::move(row).value());
  return {outcome::imported, {}};
}

} // namespace hm::matrix::crypto
