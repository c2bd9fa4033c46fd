#pragma once

// Owner of one libolm object (account, session, group session): libolm objects live in
// caller-provided memory and hold private keys, so the owner must run libolm's clear
// function (which wipes them) before the memory goes, also when it is replaced by a move.
// Internal to hm_crypto.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace hm::matrix::crypto::detail {

// The libolm functions come in at run time, so that public headers need only a forward
// declaration of the libolm type (olm.h's free function olm_session() would otherwise
// clash with our class of that name wherever both are visible).
template <class T>
class olm_holder {
public:
  using clear_fn = std::size_t (*)(T*);
  olm_holder(std::size_t size, T* (*init)(void*), clear_fn clear)
      : memory_(new std::uint8_t[size]), ptr_(init(memory_.get())), clear_(clear) {}
  olm_holder(const olm_holder&) = delete;
  olm_holder& operator=(const olm_holder&) = delete;
  olm_holder(olm_holder&& other) noexcept
      : memory_(std::move(other.memory_)), ptr_(std::exchange(other.ptr_, nullptr)),
        clear_(other.clear_) {}
  olm_holder& operator=(olm_holder&& other) noexcept {
    if (this != &other) {
      reset();
      memory_ = std::move(other.memory_);
      ptr_ = std::exchange(other.ptr_, nullptr);
      clear_ = other.clear_;
    }
    return *this;
  }
  ~olm_holder() { reset(); }

  [[nodiscard]] T* get() const noexcept { return ptr_; }

private:
  void reset() noexcept {
    if (ptr_ != nullptr && clear_ != nullptr)
      clear_(ptr_);
    ptr_ = nullptr;
    memory_.reset();
  }
  std::unique_ptr<std::uint8_t[]> memory_;
  T* ptr_ = nullptr;
  clear_fn clear_ = nullptr;
};

} // namespace hm::matrix::crypto::detail
