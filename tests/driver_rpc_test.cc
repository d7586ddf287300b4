// Placeholder: filled by the driver_rpc_test work.
#include <gtest/gtest.h>

TEST(Placeholder, driver_rpc_test) { SUCCEED(); }
