// libFuzzer target: the KServe v2 codec on arbitrary bodies. The server's
// request parser, with and without the binary extension's header length: a
// request or a ProtocolError (4xx). The load generator's readers of what a
// server answers (model metadata, responses, error bodies): metadata or a
// ProtocolError (502). Never a crash, a leak or undefined behaviour (built
// with ASan and UBSan).
#include <cstdint>
#include <string>
#include <string_view>

#include "gpumix/kserve.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gpumix::kserve::ModelSpec model = [] {
    gpumix::kserve::ModelSpec m;
    m.name = "resnet18";
    m.input = {"input", gpumix::kserve::DataType::uint8, {-1, 3, 4, 4}};
    m.output = {"output", gpumix::kserve::DataType::fp32, {-1, 10}};
    m.max_batch = 8;
    return m;
  }();
  if (size == 0) return 0;
  // First byte: 0 = plain JSON body; otherwise the header length is the
  // decimal of a value derived from the input, valid or not.
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::optional<std::string> header_length;
  if (data[0] != 0) header_length = std::to_string(data[0] % 2 ? body.size() / (data[0] | 1) : data[0]);
  try {
    auto r = gpumix::kserve::parse_infer_request(body, header_length ? std::optional<std::string_view>(*header_length) : std::nullopt, model);
    // A parsed request is consistent with the model.
    if (r.batch < 1 || r.batch > model.max_batch || r.data.size() != static_cast<size_t>(r.batch) * 48) __builtin_trap();
    std::vector<float> out(static_cast<size_t>(r.batch) * 10, 1.0f);
    gpumix::kserve::encode_infer_response(model, r, out.data(), out.size());
  } catch (const gpumix::kserve::ProtocolError& e) {
    if (e.status() < 400 || e.status() >= 500) __builtin_trap();
  }
  // The client side, on the same bytes as a server's answer.
  try {
    const auto meta = gpumix::kserve::parse_model_metadata(body);
    for (auto d : meta.input.shape)
      if (d < 1) __builtin_trap();  // a shape the client can size a request by...
    if (meta.input.elements() > (int64_t{1} << 30)) __builtin_trap();  // ...and hold in memory
  } catch (const gpumix::kserve::ProtocolError& e) {
    if (e.status() != 502) __builtin_trap();
  }
  gpumix::kserve::check_infer_response(body, header_length ? std::optional<std::string_view>(*header_length) : std::nullopt);
  gpumix::kserve::error_message(body);
  return 0;
}
