#include "batch_queue.hpp"

namespace gpumix::serving {

void Job::complete() {
  // Notify under the lock: the waiter owns the job and destroys it as soon
  // as wait() returns, which it cannot do before this unlocks.
  std::lock_guard lock(mu_);
  done_ = true;
  cv_.notify_one();
}

void Job::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_; });
}

BatchQueue::Push BatchQueue::push(Job* job) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return Push::closed;
    if (static_cast<int64_t>(queue_.size()) >= limits_.max_queue) return Push::full;
    queue_.push_back(job);
    queued_images_ += job->images;
  }
  cv_.notify_one();
  return Push::queued;
}

std::vector<Job*> BatchQueue::next_batch() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
  if (queue_.empty()) return {};
  // Wait for a full batch, but no longer than max_delay after the oldest
  // job arrived (and not at all when draining).
  if (limits_.max_delay.count() > 0) {
    const auto deadline = queue_.front()->arrived + limits_.max_delay;
    cv_.wait_until(lock, deadline, [&] { return closed_ || queued_images_ >= limits_.max_batch; });
  }
  std::vector<Job*> batch;
  int64_t images = 0;
  const auto now = Clock::now();
  while (!queue_.empty() && images + queue_.front()->images <= limits_.max_batch) {
    Job* job = queue_.front();
    queue_.pop_front();
    images += job->images;
    job->batched = now;
    batch.push_back(job);
  }
  queued_images_ -= images;
  for (Job* job : batch) job->batch_images = images;
  return batch;
}

void BatchQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t BatchQueue::depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace gpumix::serving
