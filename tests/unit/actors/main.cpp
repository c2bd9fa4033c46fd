// The test runner of the actors suites (CAF's unit test framework).
#define CAF_TEST_NO_MAIN
#include "caf/test/unit_test_impl.hpp"

#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  // The supervisor logs every restart; keep the test output to failures.
  spdlog::set_level(spdlog::level::err);
  return caf::test::main(argc, argv);
}
