#include "mesh/base/expected.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using meshcast::BadExpectedAccess;
using meshcast::Expected;
using meshcast::unexpected;
using meshcast::Unexpected;

namespace {

enum class Why { kShort, kBad };

// The shape every converted parser has: a value, or a reason.
Expected<int, std::string> parse_digit(char c) {
  if (c < '0' || c > '9') return unexpected("not a digit");
  return c - '0';
}

Expected<void, Why> check_length(size_t n) {
  if (n < 2) return unexpected(Why::kShort);
  return {};
}

}  // namespace

TEST(Expected, HoldsValueOrError) {
  auto ok = parse_digit('7');
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(*ok, 7);
  EXPECT_EQ(ok.value(), 7);
  EXPECT_EQ(ok.value_or(-1), 7);

  auto bad = parse_digit('x');
  ASSERT_FALSE(bad.has_value());
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), "not a digit");
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Expected, ValueOnErrorThrowsInsteadOfReadingGarbage) {
  auto bad = parse_digit('x');
  EXPECT_THROW((void)bad.value(), BadExpectedAccess);
  EXPECT_THROW((void)std::move(bad).value(), BadExpectedAccess);
  const auto cbad = parse_digit('y');
  EXPECT_THROW((void)cbad.value(), BadExpectedAccess);
  Expected<void, Why> vbad = unexpected(Why::kBad);
  EXPECT_THROW(vbad.value(), BadExpectedAccess);
}

TEST(Expected, SameValueAndErrorTypeStayApart) {
  // T == E: which alternative it holds comes from how it was built, not from the type.
  Expected<std::string, std::string> v = std::string("value");
  Expected<std::string, std::string> e = unexpected(std::string("error"));
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "value");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), "error");
}

TEST(Expected, ArrowAndMutationReachTheValue) {
  Expected<std::vector<int>, Why> r = std::vector<int>{1, 2, 3};
  EXPECT_EQ(r->size(), 3u);
  r->push_back(4);
  (*r)[0] = 9;
  EXPECT_EQ(r.value(), (std::vector<int>{9, 2, 3, 4}));
  const auto& cr = r;
  EXPECT_EQ(cr->back(), 4);
}

TEST(Expected, MoveOnlyValueAndMoveOut) {
  Expected<std::unique_ptr<int>, std::string> r = std::make_unique<int>(5);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);

  Expected<std::unique_ptr<int>, std::string> e = unexpected("no");
  std::string why = std::move(e).error();
  EXPECT_EQ(why, "no");
}

TEST(Expected, DefaultConstructedHoldsValueInitialisedValue) {
  Expected<int, Why> r;
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  Expected<void, Why> v;
  EXPECT_TRUE(v);
  EXPECT_NO_THROW(v.value());
}

TEST(Expected, VoidCarriesOnlyTheError) {
  EXPECT_TRUE(check_length(5));
  auto r = check_length(1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Why::kShort);
  Expected<void, std::string> s = unexpected("link closed");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), "link closed");
}

TEST(Expected, ConstCharErrorKeepsThePointer) {
  static const char* const kWhy = "queue full";
  Expected<void, const char*> r = unexpected(kWhy);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), kWhy);
}

TEST(Expected, UnexpectedConvertsIntoTheErrorType) {
  // A const char* reason becomes a std::string error; an lvalue Unexpected is copied.
  Unexpected<const char*> u("short");
  Expected<int, std::string> a = u;
  Expected<int, std::string> b = std::move(u);
  EXPECT_EQ(a.error(), "short");
  EXPECT_EQ(b.error(), "short");
  EXPECT_EQ(u.error(), std::string("short"));
  Unexpected deduced(Why::kBad);
  static_assert(std::is_same_v<decltype(deduced), Unexpected<Why>>);
  static_assert(std::is_same_v<decltype(unexpected("x")), Unexpected<const char*>>);
}

TEST(Expected, InPlaceBuildsTheValue) {
  Expected<std::string, Why> r(std::in_place, 3, 'a');
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "aaa");
}

TEST(Expected, ComparesWithValuesAndErrors) {
  auto ok = parse_digit('3');
  auto bad = parse_digit('-');
  EXPECT_TRUE(ok == 3);
  EXPECT_FALSE(ok == 4);
  EXPECT_FALSE(bad == 3);
  EXPECT_TRUE(bad == unexpected(std::string("not a digit")));
  EXPECT_FALSE(ok == unexpected(std::string("not a digit")));
  EXPECT_TRUE(check_length(0) == unexpected(Why::kShort));
  EXPECT_FALSE(check_length(3) == unexpected(Why::kShort));
  EXPECT_TRUE(unexpected(Why::kBad) == unexpected(Why::kBad));
}

TEST(Expected, CopiesAndAssignmentsKeepTheAlternative) {
  Expected<std::string, int> a = std::string("x");
  Expected<std::string, int> b = unexpected(7);
  auto c = a;
  c = b;
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), 7);
  c = a;
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, "x");
  c = std::string("y");
  EXPECT_EQ(*c, "y");
  c = unexpected(8);
  EXPECT_EQ(c.error(), 8);
}

// Usable in constant expressions, as std::expected is (checks the header stays literal).
constexpr Expected<int, Why> kFour = 4;
constexpr Expected<int, Why> kNone = unexpected(Why::kBad);
static_assert(kFour.has_value() && *kFour == 4 && kFour.value_or(0) == 4);
static_assert(!kNone.has_value() && kNone.error() == Why::kBad && kNone.value_or(1) == 1);
static_assert(Expected<void, Why>().has_value());
