#define CAF_SUITE cluster_auth

#include "cluster/auth.hpp"

#include "caf/test/unit_test.hpp"

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm;

CAF_TEST(a proof is bound to the secret the node name and the nonce) {
  auto nonce = make_nonce();
  CAF_CHECK_EQUAL(nonce.size(), 64u);
  CAF_CHECK_NOT_EQUAL(nonce, make_nonce());
  auto proof = cluster_proof("the-secret-0123456789", "w1", nonce);
  CAF_CHECK(proof.find("the-secret") == std::string::npos);
  CAF_CHECK(proof_matches("the-secret-0123456789", "w1", nonce, proof));
  CAF_CHECK(!proof_matches("another-secret-012345", "w1", nonce, proof));
  CAF_CHECK(!proof_matches("the-secret-0123456789", "w2", nonce, proof));
  CAF_CHECK(!proof_matches("the-secret-0123456789", "w1", make_nonce(), proof));
  CAF_CHECK(!proof_matches("the-secret-0123456789", "w1", nonce, ""));
  CAF_CHECK(!proof_matches("the-secret-0123456789", "w1", nonce, proof.substr(1)));
}

CAF_TEST(the secret file must exist be private and long enough) {
  auto dir = std::filesystem::temp_directory_path()
             / ("hm-secret-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "secret";
  auto write = [&](const std::string& text, mode_t mode) {
    std::ofstream{file} << text;
    ::chmod(file.c_str(), mode);
  };
  CAF_CHECK(!read_cluster_secret(dir / "missing").error.empty());
  write("short\n", 0600);
  auto r = read_cluster_secret(file);
  CAF_CHECK(r.error.find("too short") != std::string::npos);
  write("  a-long-enough-cluster-secret  \n", 0644);
  r = read_cluster_secret(file);
  CAF_CHECK(r.error.find("chmod 600") != std::string::npos);
  CAF_CHECK(r.error.find("a-long-enough") == std::string::npos);
  write("  a-long-enough-cluster-secret  \n", 0600);
  r = read_cluster_secret(file);
  CAF_CHECK_EQUAL(r.error, "");
  CAF_CHECK_EQUAL(r.value, "a-long-enough-cluster-secret");
  std::filesystem::remove_all(dir);
}
