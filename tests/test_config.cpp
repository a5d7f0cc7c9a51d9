// Strict config: typed getters, defaults written into resolved(), unknown keys with
// suggestions, --set overrides and load errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "core/io/atomic_file.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using inq::Config;
using inq::ConfigError;
using nlohmann::json;

namespace {

// The ConfigError message of `fn`, or "no error".
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

Config sample() {
  return Config(json::parse(R"({
    "device": "cpu",
    "train": {"batch_size": 256, "lr": 0.1, "epochs": 3, "nesterov": true, "wd": 5e-4,
              "milestones": [10, 20.5], "crop": [224, 224], "big": 18446744073709551615},
    "inq": {"stages": [{"portion": 0.5, "epochs": 2}, {"portion": 1.0, "epochs": 4}]}
  })"),
                "configs/x.json");
}

TEST(Config, TypedGettersReturnValues) {
  Config c = sample();
  EXPECT_EQ(c.get_string("device"), "cpu");
  EXPECT_EQ(c.get_int("train.batch_size"), 256);
  EXPECT_EQ(c.get_double("train.lr"), 0.1);
  EXPECT_EQ(c.get_double("train.epochs"), 3.0);  // an integer is a fine double
  EXPECT_TRUE(c.get_bool("train.nesterov"));
  EXPECT_EQ(c.get_double_list("train.milestones"), (std::vector<double>{10, 20.5}));
  EXPECT_EQ(c.get_int_list("train.crop", {}), (std::vector<int64_t>{224, 224}));
  EXPECT_EQ(c.get_int("inq.stages.1.epochs"), 4);  // arrays are indexed by number
  EXPECT_EQ(c.get_double("inq.stages.0.portion", 9.0), 0.5);
  EXPECT_TRUE(c.has("train.wd"));
  EXPECT_FALSE(c.has("train.momentum"));
  EXPECT_FALSE(c.has("device.x"));  // below a string: absent, not a crash
  EXPECT_EQ(c.source(), "configs/x.json");
}

TEST(Config, WrongTypesNamePathExpectationValueAndSource) {
  Config c(json::parse(R"({"train": {"batch_size": "abc", "lr": "fast", "half": 1.5, "two": 2.0,
                                     "flag": 1, "name": 5, "list": [1, "a"], "ints": [1, 2.5]}})"),
           "configs/x.json");
  const std::string m = error_of([&] { c.get_int("train.batch_size"); });
  EXPECT_CONTAINS(m, "train.batch_size: expected an integer, got \"abc\"");
  EXPECT_CONTAINS(m, "configs/x.json");
  EXPECT_CONTAINS(error_of([&] { c.get_int("train.half"); }), "train.half: expected an integer, got 1.5");
  EXPECT_CONTAINS(error_of([&] { c.get_int("train.two", 1); }), "train.two: expected an integer, got 2.0");
  EXPECT_EQ(c.get_double("train.two"), 2.0);
  EXPECT_CONTAINS(error_of([&] { c.get_double("train.lr", 0.1); }), "train.lr: expected a number, got \"fast\"");
  EXPECT_CONTAINS(error_of([&] { c.get_bool("train.flag"); }), "train.flag: expected a boolean");
  EXPECT_CONTAINS(error_of([&] { c.get_string("train.name", "x"); }), "train.name: expected a string, got 5");
  EXPECT_CONTAINS(error_of([&] { c.get_double_list("train.list"); }), "train.list[1]: expected a number, got \"a\"");
  EXPECT_CONTAINS(error_of([&] { c.get_int_list("train.ints", {}); }), "train.ints[1]: expected an integer");
  EXPECT_CONTAINS(error_of([&] { c.get_double_list("train.half"); }), "expected a list of numbers, got 1.5");
  EXPECT_CONTAINS(error_of([&] { c.get_int("train.missing"); }), "train.missing: required key is missing");
  EXPECT_CONTAINS(error_of([&] { c.get_json("nothing.here"); }), "nothing.here: required key is missing");
  Config big = sample();
  EXPECT_CONTAINS(error_of([&] { big.get_int("train.big"); }), "fits in 64 bits");
}

TEST(Config, DefaultsAreRecordedInResolved) {
  Config c = sample();
  EXPECT_EQ(c.get_int("train.batch_size", 32), 256);  // present value wins
  EXPECT_EQ(c.get_double("train.momentum", 0.9), 0.9);
  EXPECT_EQ(c.get_string("data.name", "fashion_mnist"), "fashion_mnist");
  EXPECT_FALSE(c.get_bool("data.shuffle_off", false));
  EXPECT_EQ(c.get_int_list("data.size", {28, 28}), (std::vector<int64_t>{28, 28}));
  EXPECT_EQ(c.get_double_list("inq.portions", {0.5, 1.0}), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(c.get_choice("inq.strategy", "magnitude", {"magnitude", "random"}), "magnitude");
  const json& r = c.resolved();
  EXPECT_EQ(r["train"]["batch_size"], 256);
  EXPECT_EQ(r["train"]["momentum"], 0.9);
  EXPECT_EQ(r["data"], json::parse(R"({"name": "fashion_mnist", "shuffle_off": false, "size": [28, 28]})"));
  EXPECT_EQ(r["inq"]["portions"], json::parse("[0.5, 1.0]"));
  EXPECT_EQ(r["inq"]["strategy"], "magnitude");
  // A default cannot be placed below a value that is not an object.
  EXPECT_CONTAINS(error_of([&] { c.get_double("device.lr", 0.1); }), "device: expected an object");
  Config empty;  // default-constructed: every read takes its default
  EXPECT_EQ(empty.get_int("a.b", 7), 7);
  EXPECT_EQ(empty.resolved(), json::parse(R"({"a": {"b": 7}})"));
  EXPECT_NO_THROW(empty.check_unused());
}

TEST(Config, ChoiceErrorListsChoices) {
  Config c(json::parse(R"({"opt": "adamw"})"), "run.json");
  const std::string m = error_of([&] { c.get_choice("opt", "sgd", {"sgd", "adam"}); });
  EXPECT_CONTAINS(m, "opt: expected one of \"sgd\", \"adam\", got \"adamw\"");
  EXPECT_CONTAINS(m, "run.json");
}

TEST(Config, CheckUnusedListsEveryUnreadLeafWithSuggestions) {
  Config c(json::parse(R"({"train": {"lr": 0.1, "lr_shedule": "step", "extra": {"a": 1, "b": [1]}},
                           "foo": 1, "trian": {"epochs": 3}, "model": {"name": "resnet18", "opts": {"x": 1}},
                           "inq": {"stages": [{"epochs": 2, "lr": 0.1}]}, "nothing": {}})"),
           "configs/x.json");
  c.get_double("train.lr");
  c.get_string("train.lr_schedule", "cosine");
  c.get_int("train.epochs", 1);
  c.get_json("model");  // marks the whole subtree
  c.get_int("inq.stages.0.epochs");
  const std::string m = error_of([&] { c.check_unused(); });
  EXPECT_EQ(m.rfind("unknown key(s) in configs/x.json: ", 0), 0u) << m;
  EXPECT_CONTAINS(m, "train.lr_shedule (did you mean train.lr_schedule?)");
  EXPECT_CONTAINS(m, "train.extra.a, train.extra.b,");
  EXPECT_CONTAINS(m, "trian.epochs (did you mean train.epochs?)");
  EXPECT_CONTAINS(m, "inq.stages.0.lr");
  EXPECT_CONTAINS(m, ", nothing, ");
  EXPECT_CONTAINS(m, "configs/x.json: foo, ");
  EXPECT_EQ(m.find("foo ("), std::string::npos) << "no suggestion expected for foo: " << m;
  EXPECT_EQ(m.find("model"), std::string::npos) << m;
  EXPECT_EQ(m.find("train.lr,"), std::string::npos) << m;

  Config ok(json::parse(R"({"a": {"b": 1, "c": [1, 2]}})"), "ok.json");
  ok.get_int("a.b");
  EXPECT_CONTAINS(error_of([&] { ok.check_unused(); }), "unknown key(s) in ok.json: a.c");
  ok.get_int_list("a.c", {});
  EXPECT_NO_THROW(ok.check_unused());
}

TEST(Config, OverridesParseJsonOrTakeStrings) {
  Config c = sample();
  c.apply_override("train.lr=0.5");
  c.apply_override("train.epochs=30");
  c.apply_override("device=cuda");
  c.apply_override("train.nesterov=false");
  c.apply_override("model.opts.width=2");  // creates model and model.opts
  c.apply_override("train.milestones=[5, 6]");
  c.apply_override("run.name=\"42\"");  // quoted: a string, not a number
  c.apply_override("run.tag=");        // empty value: empty string
  c.apply_override(" data.root =/tmp/x=y");  // the first '=' splits; the key is trimmed
  c.apply_override("inq.stages.1.epochs=9");
  EXPECT_EQ(c.get_double("train.lr"), 0.5);
  EXPECT_EQ(c.get_int("train.epochs"), 30);
  EXPECT_EQ(c.get_string("device"), "cuda");
  EXPECT_FALSE(c.get_bool("train.nesterov"));
  EXPECT_EQ(c.get_int("model.opts.width"), 2);
  EXPECT_EQ(c.get_double_list("train.milestones"), (std::vector<double>{5, 6}));
  EXPECT_EQ(c.get_string("run.name"), "42");
  EXPECT_EQ(c.get_string("run.tag"), "");
  EXPECT_EQ(c.get_string("data.root"), "/tmp/x=y");
  EXPECT_EQ(c.get_int("inq.stages.1.epochs"), 9);

  for (const char* bad : {"train.lr", "=3", "a..b=1", ".a=1", "a.=1"})
    EXPECT_CONTAINS(error_of([&] { c.apply_override(bad); }), "expected KEY=VALUE");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.lr.x=1"); }), "train.lr is not an object (it is 0.5)");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("inq.stages.7.epochs=1"); }), "past the end of inq.stages");
  EXPECT_EQ(c.get_double("train.lr"), 0.5);  // failed overrides changed nothing
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = inq::test::make_temp_dir("inq_cfg_").string(); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    inq::write_file_atomic(p, text);
    return p;
  }
  std::string dir_;
};

TEST_F(ConfigFile, LoadsAndNamesFileInErrors) {
  const std::string good = write("good.json", R"({"train": {"lr": 0.01}})");
  Config c = Config::load(good);
  EXPECT_EQ(c.source(), good);
  EXPECT_EQ(c.get_double("train.lr"), 0.01);

  const std::string missing = dir_ + "/missing.json";
  std::string m = error_of([&] { Config::load(missing); });
  EXPECT_CONTAINS(m, missing);
  EXPECT_CONTAINS(m, "No such file or directory");

  const std::string broken = write("broken.json", "{\n  \"a\": 1,\n  \"b\": }\n");
  m = error_of([&] { Config::load(broken); });
  EXPECT_CONTAINS(m, broken);
  EXPECT_CONTAINS(m, "line 3, column");
  EXPECT_EQ(m.find("[json.exception"), std::string::npos) << m;

  const std::string dup = write("dup.json", R"({"train": {"lr": 0.1, "epochs": 2, "lr": 0.2}})");
  m = error_of([&] { Config::load(dup); });
  EXPECT_CONTAINS(m, dup);
  EXPECT_CONTAINS(m, "duplicate key train.lr");

  const std::string list = write("list.json", "[1, 2]");
  EXPECT_CONTAINS(error_of([&] { Config::load(list); }), "top level of a config must be a JSON object");
}

}  // namespace
