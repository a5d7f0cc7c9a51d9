// Command-line parsing shared by the apps that take a config: one positional CONFIG, `--set
// key=value` overrides (also `--set=key=value`), options with one value each, and --help. Bad usage
// prints the message and the usage to stderr and exits with 2, the apps' bad-input code.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace inq::cli {

struct ConfigArgs {
  std::string config;             // empty when not given
  std::vector<std::string> sets;  // in command-line order
};

class Parser {
 public:
  Parser(const char* program, const char* usage) : program_(program), usage_(usage) {}

  [[noreturn]] void fail(const std::string& msg) const {
    std::fprintf(stderr, "%s: %s\n%s", program_, msg.c_str(), usage_);
    std::exit(2);
  }

  // `options`: each flag and the string its value goes to.
  ConfigArgs parse(int argc, char** argv, std::initializer_list<std::pair<const char*, std::string*>> options) const {
    ConfigArgs a;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) fail(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "-h" || arg == "--help") {
        std::fputs(usage_, stdout);
        std::exit(0);
      }
      if (arg == "--set") {
        a.sets.push_back(value());
        continue;
      }
      if (arg.rfind("--set=", 0) == 0) {
        a.sets.push_back(arg.substr(6));
        continue;
      }
      std::string* target = nullptr;
      for (const auto& [flag, out] : options)
        if (arg == flag) target = out;
      if (target) {
        *target = value();
      } else if (!arg.empty() && arg[0] == '-') {
        fail("unknown option " + arg);
      } else if (a.config.empty()) {
        a.config = arg;
      } else {
        fail("more than one config given: " + a.config + " and " + arg);
      }
    }
    return a;
  }

 private:
  const char* program_;
  const char* usage_;
};

}  // namespace inq::cli
