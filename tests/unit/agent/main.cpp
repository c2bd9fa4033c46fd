// The one translation unit of hm-test-agent that provides main().
#define CAF_SUITE agent
#include "caf/test/unit_test_impl.hpp"
