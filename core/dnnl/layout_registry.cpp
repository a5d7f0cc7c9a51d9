#include "core/dnnl/layout_registry.h"

#include <cstring>

namespace inq {

using dnnl::memory;

memory::desc flat_desc(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) strides[size_t(i)] = strides[size_t(i) + 1] * dims[size_t(i) + 1];
  return memory::desc(dims, memory::data_type::f32, strides);
}

LayoutRegistry::LayoutRegistry(const dnnl::engine& engine, ScratchArena& scratch)
    : engine_(engine), stream_(engine), scratch_(scratch) {}

std::vector<std::map<const char*, LayoutRegistry::Region>::iterator> LayoutRegistry::overlapping(const char* p,
                                                                                                   size_t bytes) {
  std::vector<std::map<const char*, Region>::iterator> out;
  if (regions_.empty()) return out;
  auto it = regions_.upper_bound(p);
  if (it != regions_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.bytes > p) out.push_back(prev);
  }
  for (; it != regions_.end() && it->first < p + bytes; ++it) out.push_back(it);
  return out;
}

const memory::desc* LayoutRegistry::format(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = regions_.find(static_cast<const char*>(p));
  return it != regions_.end() && it->second.bytes == bytes ? &it->second.desc : nullptr;
}

LayoutRegistry::CachedReorder& LayoutRegistry::reorder_for(const memory::desc& from, const memory::desc& to) {
  for (auto& r : reorders_)
    if (r->from == from && r->to == to) return *r;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::reorder::primitive_desc pd(engine_, from, engine_, to, attr);
  reorders_.push_back(std::make_unique<CachedReorder>(CachedReorder{from, to, dnnl::reorder(pd), pd.scratchpad_desc()}));
  return *reorders_.back();
}

// In place through a copy in the arena: the reorder reads the copy and writes the buffer. The
// copy sits after the reorder's scratchpad in one reservation.
void LayoutRegistry::to_flat(const char* p, const Region& r) {
  const memory::desc flat = flat_desc(r.desc.dims());
  CachedReorder& ro = reorder_for(r.desc, flat);
  ScratchLayout layout;
  layout.add(r.bytes);
  layout.add(ro.scratchpad.get_size());
  layout.start(scratch_.reserve(layout.total()));
  char* copy = layout.take(r.bytes);
  char* pad = layout.take(ro.scratchpad.get_size());
  std::memcpy(copy, p, r.bytes);
  ro.prim.execute(stream_, {{DNNL_ARG_FROM, memory(r.desc, engine_, copy)},
                            {DNNL_ARG_TO, memory(flat, engine_, const_cast<char*>(p))},
                            {DNNL_ARG_SCRATCHPAD, memory(ro.scratchpad, engine_, pad)}});
  stream_.wait();
}

void LayoutRegistry::plain(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (auto it : overlapping(static_cast<const char*>(p), bytes)) {
    to_flat(it->first, it->second);
    regions_.erase(it);
  }
}

void LayoutRegistry::overwrite(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  const char* c = static_cast<const char*>(p);
  for (auto it : overlapping(c, bytes)) {
    if (it->first < c || it->first + it->second.bytes > c + bytes) to_flat(it->first, it->second);
    regions_.erase(it);
  }
}

void LayoutRegistry::set(const void* p, const memory::desc& d) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  overwrite(p, d.get_size());
  if (d != flat_desc(d.dims())) regions_.emplace(static_cast<const char*>(p), Region{d.get_size(), d});
}

void LayoutRegistry::convert(const void* p, const memory::desc& to) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  const size_t bytes = to.get_size();
  const memory::desc* now = format(p, bytes);
  const memory::desc from = now ? *now : flat_desc(to.dims());
  if (from == to) return;
  if (!now) plain(p, bytes);  // parts of other regions
  CachedReorder& ro = reorder_for(from, to);
  ScratchLayout layout;
  layout.add(bytes);
  layout.add(ro.scratchpad.get_size());
  layout.start(scratch_.reserve(layout.total()));
  char* copy = layout.take(bytes);
  char* pad = layout.take(ro.scratchpad.get_size());
  std::memcpy(copy, p, bytes);
  ro.prim.execute(stream_, {{DNNL_ARG_FROM, memory(from, engine_, copy)},
                            {DNNL_ARG_TO, memory(to, engine_, const_cast<void*>(p))},
                            {DNNL_ARG_SCRATCHPAD, memory(ro.scratchpad, engine_, pad)}});
  stream_.wait();
  regions_.erase(static_cast<const char*>(p));
  if (to != flat_desc(to.dims())) regions_.emplace(static_cast<const char*>(p), Region{bytes, to});
}

void LayoutRegistry::release(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (auto it : overlapping(static_cast<const char*>(p), bytes)) regions_.erase(it);
}

}  // namespace inq
