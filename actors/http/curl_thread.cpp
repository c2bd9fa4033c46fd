#include "actors/http/curl_thread.hpp"

#include <new>

namespace hm {

curl_thread::curl_thread(http_engine_options options, report_fn report)
  : options_(options), report_(std::move(report)), multi_(curl_multi_init()) {
  if (multi_ == nullptr)
    throw std::bad_alloc{}; // curl_multi_init fails only when memory does
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  thread_ = std::thread{[this] { run(); }};
}

curl_thread::~curl_thread() {
  {
    // Woken under the lock: the thread cannot see stopping_ and clean up the
    // multi handle while curl_multi_wakeup still uses it.
    std::lock_guard guard{mutex_};
    stopping_ = true;
    curl_multi_wakeup(multi_);
  }
  thread_.join();
  curl_multi_cleanup(multi_);
}

void curl_thread::submit(curl_job job) {
  std::lock_guard guard{mutex_};
  new_jobs_.push_back(std::move(job));
  curl_multi_wakeup(multi_);
}

void curl_thread::cancel(uint64_t serial) {
  std::lock_guard guard{mutex_};
  cancels_.push_back(serial);
  curl_multi_wakeup(multi_);
}

void curl_thread::run() {
  std::vector<curl_job> jobs;
  std::vector<uint64_t> cancels;
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
    int running = 0;
    curl_multi_perform(multi_, &running);
    collect_finished();
    // The timeout only bounds the sleep; libcurl shortens it to its own
    // timers, and curl_multi_wakeup ends it early.
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
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
