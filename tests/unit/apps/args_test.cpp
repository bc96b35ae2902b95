#include "apps/cli/args.hpp"

#include <gtest/gtest.h>

#include <vector>

using meshcast::app::Args;

namespace {
Args parse(std::vector<const char*> v, std::set<std::string> flags, std::set<std::string> opts) {
  v.insert(v.begin(), "cmd");
  return Args(static_cast<int>(v.size()), const_cast<char**>(v.data()), flags, opts);
}
}  // namespace

TEST(Args, ParsesFlagsAndOptions) {
  auto a =
      parse({"--quiet", "--viewers", "5", "--out=x.webm", "pos"}, {"quiet"}, {"viewers", "out"});
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_TRUE(a.has("quiet"));
  EXPECT_EQ(a.get_int("viewers", 1, 1, 100), 5);
  EXPECT_EQ(a.get("out"), "x.webm");
  ASSERT_EQ(a.positional().size(), 1u);
  EXPECT_EQ(a.positional()[0], "pos");
}

TEST(Args, RejectsUnknownAndMissingValues) {
  EXPECT_FALSE(parse({"--nope"}, {}, {}).ok());
  EXPECT_FALSE(parse({"--viewers"}, {}, {"viewers"}).ok());
  EXPECT_FALSE(parse({"--quiet=1"}, {"quiet"}, {}).ok());
}

TEST(Args, RangeChecksNumbers) {
  auto a = parse({"--n", "500", "--p", "abc"}, {}, {"n", "p"});
  EXPECT_EQ(a.get_int("n", 7, 1, 100), 7);
  EXPECT_FALSE(a.ok());
  auto b = parse({"--p", "0.5x"}, {}, {"p"});
  EXPECT_EQ(b.get_double("p", 0.1, 0, 0.5), 0.1);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.error(), "--p must be a number in [0, 0.5], got '0.5x'");
  auto c = parse({"--p", "0.25"}, {}, {"p"});
  EXPECT_DOUBLE_EQ(c.get_double("p", 0.1, 0, 1), 0.25);
  EXPECT_TRUE(c.ok());
}

TEST(Args, HelpIsAlwaysAFlag) {
  EXPECT_TRUE(parse({"-h"}, {}, {}).help());
  EXPECT_TRUE(parse({"--help"}, {}, {}).help());
}

TEST(Args, KeepsEveryValueOfARepeatedOption) {
  auto a = parse({"--turn", "a", "--stun=b", "--turn=c"}, {}, {"turn", "stun"});
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a.get("turn"), "c");  // get() keeps meaning "the last one"
  EXPECT_EQ(a.get_all("turn"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(a.get_all("stun"), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(a.get_all("none").empty());
}
