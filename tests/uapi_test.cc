// Placeholder: filled by the uapi_test work.
#include <gtest/gtest.h>

TEST(Placeholder, uapi_test) { SUCCEED(); }
