// The one translation unit of hm-test-store that provides main().
#define CAF_SUITE store
#include "caf/test/unit_test_impl.hpp"
