// The one translation unit of hm-test-profiles that holds main().
#define CAF_SUITE profiles
#include "caf/test/unit_test_impl.hpp"
