// Validators and formatters for the small textual forms clawfleet accepts
// from users: names, sizes, paths.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace cf {

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1-63 bytes.
bool is_dns_label(std::string_view s);
// A Linux interface name: 1-15 bytes (IFNAMSIZ-1) of [A-Za-z0-9_.-], not "." or "..".
bool is_ifname(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Text from outside (a manifest, a file name, a guest, the VMM, systemd,
// the journal) as a terminal may show it: control characters (C0, DEL,
// and C1 such as the 8-bit CSI U+009B) and bytes that are not UTF-8
// become \xNN, so an escape sequence cannot move the cursor, recolour or
// retitle the operator's terminal; the rest is unchanged.
std::string printable(std::string_view s);
// Absolute, no "." or ".." components, no empty components (a trailing
// slash is refused too), no control characters (NUL, C0, DEL); at most
// 4096 bytes.
bool is_clean_absolute_path(std::string_view s);

// "20GiB", "40G" (binary, as qemu-img), "10GB" (decimal). A bare number is
// refused: it is ambiguous between bytes and GiB.
Result<std::uint64_t> parse_size(std::string_view s);
// Largest exact binary unit: 21474836480 -> "20GiB", 1000 -> "1000B".
std::string format_size(std::uint64_t bytes);

// "300" (seconds), "300s", "1500ms", "5m", "5min", "1h" -> milliseconds:
// the agent's --resync and the manifest's durations. An error names the
// text and what is allowed.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view data);

// The longest prefix of `s` of at most `max` bytes that does not end inside
// a UTF-8 character: for quoting a user's value in a message, whose JSON
// and terminal renderings must stay valid UTF-8.
std::string_view utf8_prefix(std::string_view s, std::size_t max);
// `s`, or when longer than `max` bytes its utf8_prefix ending in "..." that
// fits in `max` (max >= 3).
std::string cut(std::string_view s, std::size_t max);

// The items with `sep` between them: join({"a", "b"}, ", ") is "a, b".
std::string join(const std::vector<std::string>& items, std::string_view sep);

// "1 instance", "2 instances"
std::string plural(std::size_t n, std::string_view one, std::string_view many);

}  // namespace cf
