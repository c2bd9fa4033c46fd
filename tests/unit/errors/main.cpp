// The one translation unit of hm-test-errors that holds main().
// CAF's test runner uses std::regex, in which GCC 12 with -fsanitize reports a false
// -Wmaybe-uninitialized; the pragma must come before the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define CAF_SUITE errors
#include "caf/test/unit_test_impl.hpp"
