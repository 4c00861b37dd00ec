#include "host/guest/image_record.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sha256.h"

namespace cf::host {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxFiles = 64;
constexpr std::size_t kMaxVersionBytes = 128;
constexpr std::size_t kMaxFileNameBytes = 255;

bool hex64(const std::string& s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Shown in plans: printable ASCII only, nothing a terminal interprets.
bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

bool file_name(const std::string& s) {
  return !s.empty() && s.size() <= kMaxFileNameBytes && s != "." && s != ".." && s.find('/') == std::string::npos &&
         printable(s);
}

std::pair<std::string, std::string> split(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Each directory's record, read once.
class Records {
 public:
  explicit Records(FileReader& files) : files_(files) {}

  const Result<std::optional<ImageRecord>>& in(const std::string& dir) {
    auto it = cache_.find(dir);
    if (it == cache_.end()) it = cache_.emplace(dir, read(dir)).first;
    return it->second;
  }

 private:
  Result<std::optional<ImageRecord>> read(const std::string& dir) {
    const std::string path = (dir == "/" ? "" : dir) + "/" + kImageRecordFile;
    auto entries = files_.list_dir(dir);
    if (!entries) return entries.error();
    auto e = std::find_if(entries.value().begin(), entries.value().end(),
                          [](const DirEntry& d) { return d.name == kImageRecordFile; });
    if (e == entries.value().end()) return std::optional<ImageRecord>();
    if (!e->regular) return Error{path + " is not a regular file"};
    auto text = files_.read_file(path, kMaxImageRecordBytes);
    if (!text) return text.error();
    auto record = parse_image_record(text.value());
    if (!record) return Error{path + ": " + record.error().message};
    return std::optional(std::move(record.value()));
  }

  FileReader& files_;
  std::map<std::string, Result<std::optional<ImageRecord>>> cache_;
};

// One file's recorded digest, or why it has none.
Result<std::pair<std::string, std::string>> identify(const std::string& path, Records& records, FileReader& files) {
  const auto [dir, name] = split(path);
  const auto& record = records.in(dir);
  if (!record) return record.error();
  if (!record.value()) return Error{path + " has no record (no " + std::string(kImageRecordFile) + " beside it)"};
  auto f = record.value()->files.find(name);
  if (f == record.value()->files.end())
    return Error{path + " is not in its record (" + dir + "/" + kImageRecordFile + ")"};
  auto st = files.status(path);
  if (!st) return st.error();
  if (st.value().size != f->second.size || st.value().mtime_ns != f->second.mtime_ns)
    return Error{path +
                 " is not the file its record describes (its size or modification time differs): it "
                 "changed after it was recorded"};
  return std::pair{f->second.sha256, record.value()->version};
}

}  // namespace

Result<ImageRecord> parse_image_record(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return Error{"not JSON"};
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != 1)
    return Error{"not an image record of format 1"};
  ImageRecord out;
  if (auto v = doc.find("version"); v != doc.end()) {
    if (!v->is_string() || v->get<std::string>().size() > kMaxVersionBytes || !printable(v->get<std::string>()))
      return Error{"version is not a line of at most " + std::to_string(kMaxVersionBytes) + " printable characters"};
    out.version = v->get<std::string>();
  }
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) return Error{"no object of files"};
  if (files->size() > kMaxFiles) return Error{"more than " + std::to_string(kMaxFiles) + " files"};
  for (const auto& [name, f] : files->items()) {
    if (!file_name(name)) return Error{"a file name that is not a plain name"};
    if (!f.is_object()) return Error{"file " + name + " is not an object"};
    auto size = f.find("size");
    auto mtime = f.find("mtimeNs");
    auto sha = f.find("sha256");
    if (size == f.end() || !size->is_number_unsigned()) return Error{"file " + name + ": size is not a number"};
    if (mtime == f.end() || !mtime->is_number_integer()) return Error{"file " + name + ": mtimeNs is not a number"};
    if (sha == f.end() || !sha->is_string() || !hex64(sha->get<std::string>()))
      return Error{"file " + name + ": sha256 is not 64 lower-case hex digits"};
    out.files[name] = RecordedFile{size->get<std::uint64_t>(), mtime->get<std::int64_t>(), sha->get<std::string>()};
  }
  return out;
}

std::map<std::string, model::ObservedImage> identify_images(const model::Host& host, FileReader& files) {
  std::map<std::string, model::ObservedImage> out;
  Records records(files);
  for (const auto& [name, image] : host.images) {
    std::vector<std::pair<std::string, std::string>> parts = {{"kernel", image.kernel}};
    if (image.initrd) parts.emplace_back("initrd", *image.initrd);
    parts.emplace_back("rootfs", image.rootfs);
    model::ObservedImage o;
    std::string lines;
    for (const auto& [role, path] : parts) {
      // A missing file is an error of its own (trust, create), not this one.
      if (!files.status(path)) {
        o = {};
        break;
      }
      auto id = identify(path, records, files);
      if (!id) {
        o = {"", "", id.error().message};
        break;
      }
      lines += role + " " + id.value().first + "\n";
      if (role == "rootfs") {
        o.version = id.value().second;
        o.digest = "sha256:" + sha256_hex(lines);  // the rootfs is the last part
      }
    }
    out[name] = std::move(o);
  }
  return out;
}

}  // namespace cf::host
