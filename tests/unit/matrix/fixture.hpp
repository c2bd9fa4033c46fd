#pragma once

// Test fixtures for the matrix/ suites: JSON taken from the spec's examples, under
// tests/fixtures/matrix/.

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "matrix/errors.hpp"

namespace hm::matrix::test {

inline std::string read_fixture(std::string_view name) {
  std::ifstream in(std::string{HM_TEST_FIXTURES_DIR} + "/matrix/" + std::string{name},
                   std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline http_response response(int status, std::string_view body) {
  http_response r;
  r.status = status;
  r.body = body;
  return r;
}

} // namespace hm::matrix::test
