#include "engine.hpp"

#include "config.hpp"

#include <algorithm>
#include <cmath>

namespace gpumix::llm {

namespace {

// A token from `logits` (fp32, CPU, one row) at `temperature` > 0, drawn
// with `rng`: the same seed gives the same tokens on every machine.
int64_t sample(const float* logits, int64_t vocab, double temperature, std::mt19937_64& rng) {
  const float top = *std::max_element(logits, logits + vocab);
  std::vector<double> p(static_cast<size_t>(vocab));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += p[i] = std::exp((logits[i] - top) / temperature);
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (int64_t i = 0; i < vocab; ++i)
    if ((acc += p[i]) > u) return i;
  return vocab - 1;
}

}  // namespace

Engine::Engine(Model& model, BlockPool& pool, EngineOptions options, OnFinished on_finished)
    : model_(model),
      pool_(pool),
      opt_(std::move(options)),
      on_finished_(std::move(on_finished)),
      forward_timer_(model.device().is_cuda()) {
  if (!opt_.graph_batch_sizes.empty()) {
    c10::InferenceMode guard;
    graphs_ = std::make_unique<DecodeGraphs>(model_, pool_, opt_.graph_batch_sizes);
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { close(); }

Engine::Submit Engine::submit(std::shared_ptr<Completion> c) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return Submit::closed;
    if (waiting_count_ >= opt_.max_waiting) return Submit::full;
    incoming_.push_back(std::move(c));
    ++waiting_count_;
  }
  cv_.notify_one();
  return Submit::queued;
}

void Engine::wake() { cv_.notify_one(); }

void Engine::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::map<int64_t, StepTimes> Engine::decode_step_times() const {
  std::lock_guard lock(mu_);
  return decode_times_;
}

std::map<int64_t, StepTimes> Engine::prefill_step_times() const {
  std::lock_guard lock(mu_);
  return prefill_times_;
}

std::vector<int64_t> Engine::graph_sizes() const { return graphs_ ? graphs_->sizes() : std::vector<int64_t>{}; }
std::vector<int64_t> Engine::graph_contexts() const { return graphs_ ? graphs_->contexts() : std::vector<int64_t>{}; }

void Engine::end(Sequence& s, const std::string& reason, const std::string& error) {
  pool_.release(s.blocks);
  {
    std::lock_guard lock(s.c->mu);
    s.c->finish_reason = reason;
    s.c->error = error;
    s.c->finished_at = Clock::now();
  }
  // Reported before its waiter sees it finished: the waiter may be the
  // warm-up, which is never reported.
  if (error.empty() && !s.c->cancelled) on_finished_(*s.c);
  {
    std::lock_guard lock(s.c->mu);
    s.c->finished = true;
  }
  s.c->cv.notify_all();
}

void Engine::emit(Sequence& s, int64_t token) {
  const auto now = Clock::now();
  s.generated.push_back(token);
  ++tokens_generated_;
  {
    std::lock_guard lock(s.c->mu);
    if (s.c->output.empty()) s.c->first_token = now;
    s.c->output.push_back(token);
  }
  s.c->cv.notify_all();
}

void Engine::loop() {
  c10::InferenceMode inference;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closed_ || !incoming_.empty() || !running_.empty() || !waiting_.empty(); });
      if (closed_) break;
      for (auto& c : incoming_) {
        Sequence s;
        s.rng.seed(c->seed);
        s.c = std::move(c);
        waiting_.push_back(std::move(s));
      }
      incoming_.clear();
    }
    if (!iterate()) {
      // Nothing can run (waiting only for cancelled ones to be noticed): sleep until woken.
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return closed_ || !incoming_.empty(); });
    }
  }
  // Closing: whatever is left ends with an error.
  std::lock_guard lock(mu_);
  for (auto& c : incoming_) {
    Sequence s;
    s.c = std::move(c);
    waiting_.push_back(std::move(s));
  }
  for (auto& s : running_) end(s, "", "the server is shutting down");
  for (auto& s : waiting_) end(s, "", "the server is shutting down");
  running_.clear();
  waiting_.clear();
  running_count_ = 0;
  waiting_count_ = 0;
}

bool Engine::iterate() {
  // Cancelled requests leave first: their blocks are free for this iteration.
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->c->cancelled) {
      end(*it, "cancelled");
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->c->cancelled) {
      end(*it, "cancelled");
      it = waiting_.erase(it);
      --waiting_count_;
    } else {
      ++it;
    }
  }
  // Admission in arrival order while blocks and batch slots allow.
  while (!waiting_.empty() && static_cast<int64_t>(running_.size()) < opt_.max_batch) {
    auto& s = waiting_.front();
    const auto need = pool_.blocks_for(static_cast<int64_t>(s.c->prompt.size()) + s.c->max_tokens);
    s.blocks = pool_.allocate(need);
    if (s.blocks.empty()) break;
    running_.push_back(std::move(s));
    waiting_.pop_front();
    --waiting_count_;
  }
  running_count_ = static_cast<int64_t>(running_.size());
  if (running_.empty()) return false;

  // The step: a token for every sequence past its prompt, then prompt chunks.
  const auto t0 = Clock::now();
  std::vector<DecodeRow> decode;
  std::vector<size_t> decode_seq, prefill_seq;
  std::vector<PrefillPart> prefill;
  int64_t budget = opt_.prefill_chunk;
  for (size_t i = 0; i < running_.size(); ++i) {
    auto& s = running_[i];
    const auto prompt_len = static_cast<int64_t>(s.c->prompt.size());
    if (s.prefilled == prompt_len) {
      decode.push_back({s.generated.back(), prompt_len + static_cast<int64_t>(s.generated.size()) - 1, &s.blocks});
      decode_seq.push_back(i);
    } else if (budget > 0) {
      const int64_t n = std::min(budget, prompt_len - s.prefilled);
      prefill.push_back({&s.c->prompt, s.prefilled, n, &s.blocks});
      prefill_seq.push_back(i);
      budget -= n;
    }
  }

  // Which sequence each logits row belongs to.
  std::vector<size_t> logit_seq = decode_seq;
  for (size_t j = 0; j < prefill.size(); ++j)
    if (prefill[j].last()) logit_seq.push_back(prefill_seq[j]);

  std::vector<size_t> finished;
  try {
    torch::Tensor logits;
    const bool graph = graphs_ && prefill.empty() && graphs_->fits(static_cast<int64_t>(decode.size()));
    // Inputs first (host work and their copies), then the timed forward pass.
    const auto loaded = graph ? graphs_->load(decode) : DecodeGraphs::Loaded{};
    auto inputs = graph ? StepTensors() : build_step(decode, prefill, pool_, model_.device());
    forward_timer_.start();
    logits = graph ? graphs_->replay(loaded) : model_.forward(inputs);
    forward_timer_.stop();
    for (size_t j = 0; j < prefill.size(); ++j) running_[prefill_seq[j]].prefilled += prefill[j].count;

    const int64_t vocab = model_.config().vocab;
    const auto greedy = logits.argmax(-1).to(torch::kCPU);
    torch::Tensor cpu_logits;
    for (size_t r = 0; r < logit_seq.size(); ++r) {
      auto& s = running_[logit_seq[r]];
      int64_t token = greedy[static_cast<int64_t>(r)].item<int64_t>();
      if (s.c->temperature > 0) {
        if (!cpu_logits.defined()) cpu_logits = logits.to(torch::kCPU).contiguous();
        token = sample(cpu_logits[static_cast<int64_t>(r)].data_ptr<float>(), vocab, s.c->temperature, s.rng);
      }
      if (token == kEos && !s.c->ignore_eos) {
        finished.push_back(logit_seq[r]);
        continue;
      }
      emit(s, token);
      if (static_cast<int64_t>(s.generated.size()) >= s.c->max_tokens) finished.push_back(logit_seq[r]);
    }
    // Iterations of one kind only, by size: decode steps by batch, prefill
    // chunks by prompt tokens (the time a prompt takes alone, for TTFT).
    if (prefill.empty() || decode.empty()) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      int64_t prompt_tokens = 0;
      for (const auto& p : prefill) prompt_tokens += p.count;
      const double gpu_ms = forward_timer_.enabled() ? forward_timer_.elapsed_ms() : 0.0;
      std::lock_guard lock(mu_);
      auto& st = prefill.empty() ? decode_times_[static_cast<int64_t>(decode.size())] : prefill_times_[prompt_tokens];
      if (st.steps++ == 0) st.first_ms = ms;
      st.total_ms += ms;
      st.gpu_ms += gpu_ms;
    }
  } catch (const std::exception& e) {
    // A failed step fails the sequences in it; the others go on.
    std::vector<size_t> in_step = decode_seq;
    in_step.insert(in_step.end(), prefill_seq.begin(), prefill_seq.end());
    for (auto i : in_step) end(running_[i], "", std::string("the engine failed: ") + e.what());
    std::sort(in_step.begin(), in_step.end());
    for (size_t k = in_step.size(); k-- > 0;) running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(in_step[k]));
    running_count_ = static_cast<int64_t>(running_.size());
    return true;
  }
  std::sort(finished.begin(), finished.end());
  for (size_t k = finished.size(); k-- > 0;) {
    auto& s = running_[finished[k]];
    end(s, static_cast<int64_t>(s.generated.size()) >= s.c->max_tokens ? "length" : "stop");
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(finished[k]));
  }
  running_count_ = static_cast<int64_t>(running_.size());
  return true;
}

}  // namespace gpumix::llm
