// An image's identity by content: image.json beside its files, written by
// the image's build (examples/guest-image/record.sh), names each file's
// size, modification time and SHA-256 (docs/guest.md#image-identity).
// clawfleet trusts a file's recorded digest while the file still has the
// recorded size and modification time, so a plan reads no image; a file
// replaced at the same path no longer matches, and a new record brings a
// new digest: both are told, neither is guessed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/fs.h"
#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

inline constexpr std::size_t kMaxImageRecordBytes = 64 * 1024;
inline constexpr const char* kImageRecordFile = "image.json";

struct RecordedFile {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;  // 64 lower-case hex digits
  bool operator==(const RecordedFile&) const = default;
};

struct ImageRecord {
  std::string version;                        // "" when the record names none
  std::map<std::string, RecordedFile> files;  // by file name in the record's directory
  bool operator==(const ImageRecord&) const = default;
};

// A record's content. Errors never quote the file: an image path comes
// from a manifest, and the file may be anything.
Result<ImageRecord> parse_image_record(std::string_view text);

// The identity of every image of the Host, read through `files`: each
// file's record is image.json in that file's own directory.
std::map<std::string, model::ObservedImage> identify_images(const model::Host& host, FileReader& files);

}  // namespace cf::host
