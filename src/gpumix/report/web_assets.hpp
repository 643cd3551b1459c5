// The JavaScript the HTML report embeds: vega, vega-lite and vega-embed, from
// node_modules (pinned by package.json and package-lock.json), compiled into
// gpumix by cmake/GpumixWebAssets.cmake together with their licenses.
#pragma once

#include <span>
#include <string_view>

namespace gpumix::report {

struct WebAsset {
  std::string_view name;     // npm package, e.g. "vega-lite"
  std::string_view version;  // as installed, e.g. "6.4.1"
  std::string_view license;  // SPDX id from its package.json
  std::string_view script;   // build/<name>.min.js
  std::string_view license_text;  // its LICENSE file
};

// In load order: vega, vega-lite, vega-embed.
std::span<const WebAsset> web_assets();

}  // namespace gpumix::report
