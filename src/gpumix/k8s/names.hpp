// Kubernetes' syntax rules for names, labels, resource names and quantities
// (as k8s.io/apimachinery validates them), and the one way gpumix turns a mix's
// names into valid object names.
#pragma once

#include <string>
#include <string_view>

namespace gpumix::k8s {

// An object name such as a Job's: lowercase letters, digits and '-', starting
// and ending alphanumeric, at most `max` (≤ 63) characters.
bool is_dns1123_label(std::string_view s, size_t max = 63);
// A dotted name such as a ConfigMap's or a domain: labels joined by '.', ≤ 253.
bool is_dns1123_subdomain(std::string_view s);
// A label key or an extended-resource name: [prefix/]name, name ≤ 63 of
// [A-Za-z0-9_.-] starting and ending alphanumeric, prefix a DNS subdomain.
bool is_qualified_name(std::string_view s);
// A label value: empty, or ≤ 63 characters as a qualified name's name part.
bool is_label_value(std::string_view s);
// An environment variable name as the API server accepts it (C identifier
// style; '.' and '-' are accepted by Kubernetes since 1.26 too).
bool is_env_name(std::string_view s);
// A ConfigMap data key: [-._a-zA-Z0-9]+, ≤ 253.
bool is_config_map_key(std::string_view s);
// A resource.Quantity in canonical or suffixed form: 1, 500m, 10Gi, 1e3.
bool is_quantity(std::string_view s);

// `text` made a DNS-1123 label of at most `max` characters: lowercased,
// every run of other characters one '-', trimmed; when too long, cut and
// ended with 8 hex digits of a hash of `text`, so that it stays unique and
// the same on every run. Throws InputError when nothing usable is left.
std::string dns1123_label(std::string_view text, size_t max, std::string_view what);

}  // namespace gpumix::k8s
