#pragma once

// How a node proves it knows the cluster secret without sending it: the
// coordinator hands out a fresh random nonce, the node answers with
// HMAC-SHA256(secret, context | node name | nonce). The secret never crosses
// the wire and a proof is worth nothing for another nonce or node name.

#include "store/private_file.hpp"

#include <filesystem>
#include <string>

namespace hm {

/// Reads the shared cluster secret (the file's content without surrounding
/// whitespace). Refuses a missing, empty, short (< 16 bytes) or group/world
/// readable file, naming the file and what is wrong (never the content).
[[nodiscard]] store::secret_text read_cluster_secret(const std::filesystem::path& file);

/// A fresh random challenge (32 bytes, hex).
[[nodiscard]] std::string make_nonce();

/// The proof a node sends for (node name, nonce), hex.
[[nodiscard]] std::string cluster_proof(const std::string& secret, const std::string& node,
                                        const std::string& nonce);

/// Whether `proof` is the right one, compared in constant time.
[[nodiscard]] bool proof_matches(const std::string& secret, const std::string& node,
                                 const std::string& nonce, const std::string& proof);

} // namespace hm
