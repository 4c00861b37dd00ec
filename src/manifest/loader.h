// Manifests -> desired fleet. Pure: takes file contents, returns the fleet
// and every diagnostic; reading files is sources.h's job.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/diagnostic.h"
#include "core/fs.h"
#include "model/desired.h"

namespace cf::manifest {

inline constexpr const char* kApiVersion = "clawfleet.io/v1";

struct SourceFile {
  std::string path;  // as shown in diagnostics
  std::string content;
};

struct LoadResult {
  model::Fleet fleet;  // complete only when !diagnostics.has_errors()
  Diagnostics diagnostics;
  std::size_t files = 0;
  std::size_t documents = 0;
  std::map<std::string, Location> origins;     // instance name -> its metadata.name
  std::map<std::string, Location> ca_origins;  // CA certificate path -> where the Host lists it
  // The state root, VMM binary and image files the Host names -> where; defaults are
  // at the Host document (host_origin), or nowhere without one.
  std::map<std::string, Location> host_files;
  Location host_origin;
};

LoadResult load(const std::vector<SourceFile>& files);

// Where manifests come from: a directory, or explicit files.
inline constexpr const char* kDefaultManifestDir = "/etc/clawfleet";

struct SourceSpec {
  std::string dir = kDefaultManifestDir;
  std::vector<std::string> files;  // when non-empty, used instead of dir
};

// The manifests of a directory listing: names ending in .yaml or .yml, not
// starting with '.' or '#', in byte order; of any type (the loader refuses
// one that is not a regular file).
std::vector<DirEntry> select_manifests(const std::vector<DirEntry>& entries);

// Reads the sources and loads them; a file that cannot or may not be read
// (not a regular file, a symlink out of the directory, over the set's byte
// budget) is an error diagnostic of its own and the others are still loaded.
LoadResult load(FileReader& fs, const SourceSpec& spec);

}  // namespace cf::manifest
