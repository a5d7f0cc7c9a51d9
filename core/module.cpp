#include "core/module.h"

namespace inq {

void Module::visit(const std::function<void(const std::string&, Param&, bool)>& fn, const std::string& prefix) {
  for (auto& e : entries_) fn(prefix + e.param->name, *e.param, e.is_buffer);
  for (auto& [name, child] : children_) child->visit(fn, prefix + name + ".");
}

void Module::for_each_module(const std::function<void(const std::string&, Module&)>& fn, const std::string& prefix) {
  fn(prefix, *this);
  for (auto& [name, child] : children_) child->for_each_module(fn, prefix.empty() ? name : prefix + "." + name);
}

Param& Module::add_param(std::string name, Shape shape, Init init) {
  entries_.push_back({std::make_unique<Param>(Param{std::move(name), std::move(shape), init, {}, {}}), false});
  return *entries_.back().param;
}

Param& Module::add_buffer(std::string name, Shape shape, Init init) {
  entries_.push_back({std::make_unique<Param>(Param{std::move(name), std::move(shape), init, {}, {}}), true});
  return *entries_.back().param;
}

}  // namespace inq
