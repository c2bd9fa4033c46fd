#include "actors/http/curl_thread.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace hm {

namespace {

std::runtime_error os_failure(const char* what) {
  return std::runtime_error{std::string{"the http engine cannot start: "} + what + ": "
                            + std::strerror(errno)};
}

} // namespace

curl_thread::curl_thread(http_engine_options options, report_fn report)
  : options_(options), report_(std::move(report)), multi_(curl_multi_init()) {
  if (multi_ == nullptr)
    throw std::bad_alloc{}; // curl_multi_init fails only when memory does
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = wake_fd_;
  if (epoll_fd_ < 0 || wake_fd_ < 0
      || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
    auto err = os_failure(epoll_fd_ < 0 ? "epoll_create1" : wake_fd_ < 0 ? "eventfd" : "epoll_ctl");
    if (wake_fd_ >= 0)
      ::close(wake_fd_);
    if (epoll_fd_ >= 0)
      ::close(epoll_fd_);
    curl_multi_cleanup(multi_);
    throw err;
  }
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &curl_thread::watch_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &curl_thread::set_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  thread_ = std::thread{[this] { run(); }};
}

curl_thread::~curl_thread() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  curl_multi_cleanup(multi_);
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void curl_thread::submit(curl_job job) {
  {
    std::lock_guard guard{mutex_};
    new_jobs_.push_back(std::move(job));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void curl_thread::cancel(uint64_t serial) {
  {
    std::lock_guard guard{mutex_};
    cancels_.push_back(serial);
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

int curl_thread::watch_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* t = static_cast<curl_thread*>(self);
  if (what == CURL_POLL_REMOVE) {
    // The socket may be closed already: nothing left to unwatch then.
    ::epoll_ctl(t->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  // libcurl says nothing of whether it watched this socket before: modify, else add.
  if (::epoll_ctl(t->epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
    ::epoll_ctl(t->epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

int curl_thread::set_timer(CURLM*, long ms, void* self) {
  auto* t = static_cast<curl_thread*>(self);
  if (ms < 0)
    t->timer_.reset();
  else
    t->timer_ = std::chrono::steady_clock::now() + std::chrono::milliseconds{ms};
  return 0;
}

int curl_thread::wait_ms() const {
  // The cap only bounds the sleep; work and sockets end it early.
  constexpr long most = 1000;
  if (!timer_)
    return most;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*timer_ - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<long>(left.count(), 0, most));
}

void curl_thread::run() {
  std::vector<curl_job> jobs;
  std::vector<uint64_t> cancels;
  std::array<epoll_event, 256> ready{};
  int running = 0;
  for (;;) {
    {
      std::lock_guard guard{mutex_};
      if (stopping_)
        break;
      jobs.swap(new_jobs_);
      cancels.swap(cancels_);
    }
    // Jobs first: a cancel may name a call that came in the same batch.
    for (auto& job : jobs)
      start(std::move(job));
    for (auto serial : cancels)
      end(serial, "cancelled");
    jobs.clear();
    cancels.clear();
    // A new transfer sets libcurl's timer to 0: it starts in the timeout action.
    // libcurl moves or clears the timer itself (set_timer) as the action needs.
    if (timer_ && wait_ms() == 0) {
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      collect_finished();
    }
    int n = ::epoll_wait(epoll_fd_, ready.data(), static_cast<int>(ready.size()), wait_ms());
    for (int i = 0; i < n; ++i) {
      int fd = ready[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        continue;
      }
      int flags = (ready[i].events & EPOLLIN ? CURL_CSELECT_IN : 0)
                  | (ready[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                  | (ready[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi_, fd, flags, &running);
    }
    if (n > 0)
      collect_finished();
  }
  for (auto& [serial, transfer] : transfers_)
    curl_multi_remove_handle(multi_, transfer->easy());
  transfers_.clear();
}

void curl_thread::start(curl_job job) {
  auto transfer = std::make_unique<curl_transfer>(std::move(job), options_);
  if (transfer->easy() == nullptr
      || curl_multi_add_handle(multi_, transfer->easy()) != CURLM_OK) {
    report_(transfer->serial(), transfer->fail("out of memory: the call could not start"));
    return;
  }
  auto serial = transfer->serial();
  transfers_.emplace(serial, std::move(transfer));
}

void curl_thread::end(uint64_t serial, std::string why) {
  auto i = transfers_.find(serial);
  if (i == transfers_.end())
    return; // finished before the cancel arrived
  curl_multi_remove_handle(multi_, i->second->easy());
  report_(serial, i->second->fail(std::move(why)));
  transfers_.erase(i);
}

void curl_thread::collect_finished() {
  int left = 0;
  while (auto* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    void* data = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &data);
    auto* transfer = static_cast<curl_transfer*>(data);
    auto code = msg->data.result;
    // msg is invalid once its handle leaves the multi handle.
    curl_multi_remove_handle(multi_, msg->easy_handle);
    auto serial = transfer->serial();
    report_(serial, transfer->finish(code));
    transfers_.erase(serial);
  }
}

} // namespace hm
