#include "manifest/loader.h"

#include <algorithm>
#include <optional>

#include "manifest/assemble.h"
#include "manifest/document.h"
#include "manifest/limits.h"
#include "manifest/parse.h"
#include "manifest/raw.h"

namespace cf::manifest {

LoadResult load(const std::vector<SourceFile>& files) {
  LoadResult out;
  Raw raw;
  std::vector<std::string> order;
  for (const auto& f : files) {
    order.push_back(f.path);
    ++out.files;
    if (f.content.size() > kMaxFileBytes) {
      out.diagnostics.error({f.path, 0, 0}, "",
                            "file is larger than the limit of " + std::to_string(kMaxFileBytes) + " bytes");
      continue;
    }
    auto docs = parse_documents(f, out.diagnostics);
    if (!docs) continue;
    for (const auto& doc : *docs) {
      if (doc.IsNull()) continue;  // "---" with only comments
      ++out.documents;
      read_document(f.path, doc, out.diagnostics, raw);
    }
  }
  out.fleet = assemble(raw, out.diagnostics, out.origins);
  if (!raw.hosts.empty() && raw.hosts[0].ca_certificates)
    for (const auto& ca : *raw.hosts[0].ca_certificates) out.ca_origins.emplace(ca.value, ca.loc);
  if (!raw.hosts.empty()) {
    out.host_origin = raw.hosts[0].loc;
    for (const auto& [_, file] : raw.hosts[0].image_files) out.host_files.emplace(file.value, file.loc);
    if (raw.hosts[0].vmm_binary) out.host_files.emplace(raw.hosts[0].vmm_binary->value, raw.hosts[0].vmm_binary->loc);
    if (raw.hosts[0].jailer) out.host_files.emplace(raw.hosts[0].jailer->value, raw.hosts[0].jailer->loc);
    if (raw.hosts[0].state_root) out.host_files.emplace(raw.hosts[0].state_root->value, raw.hosts[0].state_root->loc);
  }
  out.diagnostics.sort(order);
  return out;
}

std::vector<DirEntry> select_manifests(const std::vector<DirEntry>& entries) {
  std::vector<DirEntry> out;
  for (const auto& e : entries) {
    const std::string& n = e.name;
    if (n.empty() || n[0] == '.' || n[0] == '#') continue;
    auto ends = [&](std::string_view suffix) {
      return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".yaml") || ends(".yml")) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

namespace {

// A manifest file: the path diagnostics name, and the one read (a
// symlink's target).
struct ManifestPath {
  std::string shown;
  std::string read;
};

// The manifests of a directory, in byte order of their names; what may not
// be read is an error of its own (the set is then incomplete: no verb acts
// on it, so nothing is destroyed for a file that went missing).
std::vector<ManifestPath> directory_manifests(FileReader& fs, const std::string& dir, Diagnostics& d) {
  std::vector<ManifestPath> out;
  auto entries = fs.list_dir(dir);
  if (!entries) {
    d.error({dir, 0, 0}, "", entries.error().message);
    return out;
  }
  const std::string prefix = dir + (dir.ends_with('/') ? "" : "/");
  std::optional<Result<std::string>> real_dir;  // resolved once, for the first symlink
  for (const auto& e : select_manifests(entries.value())) {
    const std::string path = prefix + e.name;
    out.push_back({path, ""});
    if (!e.regular) {
      d.error({path, 0, 0}, "", e.type + ", not a regular file (every *.yaml and *.yml here is read as a manifest)");
      continue;
    }
    if (!e.symlink) {
      out.back().read = path;
      continue;
    }
    // A symlink stays inside the directory: whoever commits a manifest
    // must not make clawfleet read (and quote) a file elsewhere on the host.
    if (!real_dir) real_dir = fs.canonical(dir);
    if (!*real_dir) {
      d.error({path, 0, 0}, "", real_dir->error().message);
      continue;
    }
    auto target = fs.canonical(path);
    if (!target) {
      d.error({path, 0, 0}, "", target.error().message);
    } else if (!target.value().starts_with(real_dir->value() + "/")) {
      d.error({path, 0, 0}, "",
              "a symlink to " + target.value() + ", outside " + real_dir->value() +
                  " (a manifest that is a symlink must point inside its directory)");
    } else {
      out.back().read = target.value();
    }
  }
  if (out.empty()) d.warning({dir, 0, 0}, "", "no manifests (*.yaml, *.yml) in this directory");
  return out;
}

}  // namespace

LoadResult load(FileReader& fs, const SourceSpec& spec) {
  Diagnostics read_errors;
  std::vector<ManifestPath> manifests;
  if (spec.files.empty()) {
    manifests = directory_manifests(fs, spec.dir, read_errors);
  } else {
    for (const auto& f : spec.files) manifests.push_back({f, f});
  }
  if (manifests.size() > kMaxFiles) {
    read_errors.error({spec.files.empty() ? spec.dir : manifests[kMaxFiles].shown, 0, 0}, "",
                      "more than " + std::to_string(kMaxFiles) + " manifest files");
    manifests.resize(kMaxFiles);
  }
  std::vector<std::string> paths;
  std::vector<SourceFile> sources;
  std::size_t total = 0;
  for (const auto& m : manifests) {
    paths.push_back(m.shown);
    if (m.read.empty() || total > kMaxTotalBytes) continue;
    auto content = fs.read_file(m.read, kMaxFileBytes);
    if (!content) {
      // The location already names the file.
      read_errors.error({m.shown, 0, 0}, "", without_path(content.error().message, m.read));
      continue;
    }
    total += content.value().size();
    if (total > kMaxTotalBytes) {
      // Fail fast: the set is refused anyway, parsing it would only cost.
      read_errors.error({m.shown, 0, 0}, "",
                        "the manifests up to this file hold more than " + std::to_string(kMaxTotalBytes) +
                            " bytes, the limit of a set; none is parsed");
      sources.clear();
      continue;
    }
    sources.push_back({m.shown, std::move(content.value())});
  }
  LoadResult out = load(sources);
  out.files = paths.size();
  for (const auto& d : out.diagnostics.all()) read_errors.add(d);
  out.diagnostics = std::move(read_errors);
  out.diagnostics.sort(paths);
  return out;
}

}  // namespace cf::manifest
