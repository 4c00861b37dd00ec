#include "manifest/loader.h"

#include <algorithm>

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
  out.diagnostics.sort(order);
  return out;
}

std::vector<std::string> select_manifests(const std::vector<DirEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    const std::string& n = e.name;
    if (!e.regular || n.empty() || n[0] == '.' || n[0] == '#') continue;
    auto ends = [&](std::string_view suffix) {
      return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".yaml") || ends(".yml")) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

LoadResult load(FileReader& fs, const SourceSpec& spec) {
  Diagnostics read_errors;
  std::vector<std::string> paths = spec.files;
  if (paths.empty()) {
    auto entries = fs.list_dir(spec.dir);
    if (!entries) {
      read_errors.error({spec.dir, 0, 0}, "", entries.error().message);
    } else {
      for (const auto& name : select_manifests(entries.value()))
        paths.push_back(spec.dir + (spec.dir.ends_with('/') ? "" : "/") + name);
      if (paths.empty()) read_errors.warning({spec.dir, 0, 0}, "", "no manifests (*.yaml, *.yml) in this directory");
    }
  }
  if (paths.size() > kMaxFiles) {
    read_errors.error({spec.files.empty() ? spec.dir : paths[kMaxFiles], 0, 0}, "",
                      "more than " + std::to_string(kMaxFiles) + " manifest files");
    paths.resize(kMaxFiles);
  }
  std::vector<SourceFile> sources;
  for (const auto& p : paths) {
    auto content = fs.read_file(p, kMaxFileBytes);
    if (!content) {
      // The location already names the file; drop a "PATH: " prefix.
      std::string msg = content.error().message;
      if (msg.starts_with(p + ": ")) msg.erase(0, p.size() + 2);
      read_errors.error({p, 0, 0}, "", std::move(msg));
    } else
      sources.push_back({p, std::move(content.value())});
  }
  LoadResult out = load(sources);
  out.files = paths.size();
  for (const auto& d : out.diagnostics.all()) read_errors.add(d);
  out.diagnostics = std::move(read_errors);
  out.diagnostics.sort(paths);
  return out;
}

}  // namespace cf::manifest
