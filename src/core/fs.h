// Read-only file access, the one OS side effect loading configuration needs.
// It lives in core (not host) so that manifest loading does not depend on
// the host adapters; tests use FakeFileReader (tests/fakes/).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf {

struct DirEntry {
  std::string name;
  bool regular = false;  // a regular file, or a symlink to one
};

class FileReader {
 public:
  virtual ~FileReader() = default;
  // Entries of dir, in no particular order, without "." and "..".
  virtual Result<std::vector<DirEntry>> list_dir(const std::string& dir) = 0;
  // Whole content; an error when the file is larger than max_bytes.
  virtual Result<std::string> read_file(const std::string& path, std::size_t max_bytes) = 0;
};

// The whole of a regular file (a FIFO or device is refused, never waited
// on); nullopt when it does not exist; an error when it is larger than
// max_bytes. RealFileReader::read_file is the same without the nullopt.
Result<std::optional<std::string>> read_file_if_exists(const std::string& path, std::size_t max_bytes);

class RealFileReader : public FileReader {
 public:
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override;
  Result<std::string> read_file(const std::string& path, std::size_t max_bytes) override;
};

}  // namespace cf
