#include <gtest/gtest.h>

#include <podlens/result.hpp>

namespace podlens {
namespace {

Result<int> parsePositive(int v) {
  if (v <= 0) {
    return Error{"value " + std::to_string(v) + " is not positive"};
  }
  return v;
}

TEST(Result, CarriesValueOrErrorWithContext) {
  Result<int> good = parsePositive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  Result<int> bad = parsePositive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().context("reading port").message, "reading port: value -1 is not positive");
}

}  // namespace
}  // namespace podlens
