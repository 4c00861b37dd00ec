// Read-only file access, the one OS side effect loading configuration needs.
// It lives in core (not host) so that manifest loading does not depend on
// the host adapters; tests use FakeFileReader (tests/fakes/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf {

struct DirEntry {
  std::string name;
  bool regular = false;  // a regular file, or a symlink to one
  bool symlink = false;
  // What it is when not regular: "a directory", "a FIFO", "a socket", "a
  // device", "a dangling symlink" (or why it could not be told).
  std::string type;
};

// What stat(2) says of a path (symlinks followed): enough to tell whether
// root alone controls it, and whether a file is still the one a record
// describes (its size and modification time).
struct FileStatus {
  unsigned uid = 0;
  unsigned mode = 0;  // st_mode: type and permission bits
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // st_mtim in nanoseconds since the epoch
};

class FileReader {
 public:
  virtual ~FileReader() = default;
  // Entries of dir, in no particular order, without "." and "..".
  virtual Result<std::vector<DirEntry>> list_dir(const std::string& dir) = 0;
  // Whole content; an error when the file is larger than max_bytes.
  virtual Result<std::string> read_file(const std::string& path, std::size_t max_bytes) = 0;
  // The absolute path with every symlink, "." and ".." resolved (realpath).
  virtual Result<std::string> canonical(const std::string& path) = 0;
  // stat(2); an error names the path ("cannot stat /x: No such file or directory").
  virtual Result<FileStatus> status(const std::string& path) = 0;
};

// The whole of a regular file (a FIFO or device is refused, never waited
// on); nullopt when it does not exist; an error when it is larger than
// max_bytes. RealFileReader::read_file is the same without the nullopt.
Result<std::optional<std::string>> read_file_if_exists(const std::string& path, std::size_t max_bytes);

// A read error's message without its leading "PATH: ", for a caller whose
// own context already names the file.
std::string without_path(std::string message, const std::string& path);

class RealFileReader : public FileReader {
 public:
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override;
  Result<std::string> read_file(const std::string& path, std::size_t max_bytes) override;
  Result<std::string> canonical(const std::string& path) override;
  Result<FileStatus> status(const std::string& path) override;
};

}  // namespace cf
