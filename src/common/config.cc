#include "common/config.h"

#include <sys/stat.h>
#include <toml++/toml.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <sstream>

namespace isdas {

struct Config::Impl {
  std::string name;
  std::string base;  // relative paths are taken from here ("": the working directory)
  toml::table root;
  std::set<std::string> used;

  const toml::node* Find(const std::string& key) const { return root.at_path(key).node(); }
  std::string Where(const std::string& key) const {
    const toml::node* n = Find(key);
    std::string w = name;
    // Appended piece by piece: `":" + std::to_string(…)` draws a false -Wrestrict from GCC 12
    // in release builds (a known libstdc++ 12 issue).
    if (n && n->source().begin.line) w.append(":").append(std::to_string(n->source().begin.line));
    return w + ": " + key;
  }
};

Config::Config(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Config::~Config() = default;
Config::Config(Config&&) noexcept = default;

Result<Config> Config::Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("open config file " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument("config file " + path + " is " +
                           (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file") +
                           ": give the path of the .toml file itself");
  }
  std::ifstream in(path);
  if (!in) return ErrnoError("open config file " + path, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return ErrnoError("read config file " + path, errno);
  const size_t slash = path.rfind('/');
  return Parse(ss.str(), path, slash == std::string::npos ? "" : path.substr(0, slash + 1));
}

Result<Config> Config::Parse(const std::string& text, const std::string& name,
                             const std::string& base_dir) {
  auto impl = std::make_unique<Impl>();
  impl->name = name;
  impl->base = base_dir;
  if (!impl->base.empty() && impl->base.back() != '/') impl->base.push_back('/');
  try {
    impl->root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return InvalidArgument(name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                           ": " + std::string(e.description()));
  }
  return Config(std::move(impl));
}

bool Config::Has(const std::string& key) const { return impl_->Find(key) != nullptr; }

Status Config::Require(const std::string& key) const {
  if (Has(key)) return Status::Ok();
  return InvalidArgument(impl_->name + ": " + key + ": required setting is missing");
}

Status Config::Invalid(const std::string& key, const std::string& message) const {
  return InvalidArgument(impl_->Where(key) + ": " + message);
}

Status Config::GetString(const std::string& key, std::string* out) {
  const toml::node* n = impl_->Find(key);
  if (!n) return Status::Ok();
  impl_->used.insert(key);
  if (!n->is_string()) return Invalid(key, "must be a string");
  *out = n->as_string()->get();
  return Status::Ok();
}

Status Config::GetPath(const std::string& key, std::string* out) {
  ISDAS_RETURN_IF_ERROR(GetString(key, out));
  if (!out->empty() && out->front() != '/') *out = impl_->base + *out;
  return Status::Ok();
}

Status Config::GetPathList(const std::string& key, std::vector<std::string>* out) {
  ISDAS_RETURN_IF_ERROR(GetStringList(key, out));
  for (std::string& p : *out) {
    if (!p.empty() && p.front() != '/') p = impl_->base + p;
  }
  return Status::Ok();
}

Status Config::GetBool(const std::string& key, bool* out) {
  const toml::node* n = impl_->Find(key);
  if (!n) return Status::Ok();
  impl_->used.insert(key);
  if (!n->is_boolean()) return Invalid(key, "must be true or false");
  *out = n->as_boolean()->get();
  return Status::Ok();
}

Status Config::GetUint(const std::string& key, uint64_t min, uint64_t max, uint64_t* out) {
  const toml::node* n = impl_->Find(key);
  if (!n) return Status::Ok();
  impl_->used.insert(key);
  if (!n->is_integer()) return Invalid(key, "must be a whole number");
  const int64_t v = n->as_integer()->get();
  if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
    return Invalid(
        key, std::to_string(v) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  }
  *out = static_cast<uint64_t>(v);
  return Status::Ok();
}

Status Config::GetStringList(const std::string& key, std::vector<std::string>* out) {
  const toml::node* n = impl_->Find(key);
  if (!n) return Status::Ok();
  impl_->used.insert(key);
  const toml::array* a = n->as_array();
  if (!a) return Invalid(key, "must be a list of strings");
  std::vector<std::string> v;
  for (const toml::node& e : *a) {
    if (!e.is_string()) return Invalid(key, "must be a list of strings");
    v.push_back(e.as_string()->get());
  }
  *out = std::move(v);
  return Status::Ok();
}

Status Config::GetEnum(const std::string& key, const std::vector<std::string>& choices,
                       std::string* out) {
  std::string v = *out;
  ISDAS_RETURN_IF_ERROR(GetString(key, &v));
  for (const auto& c : choices) {
    if (c == v) {
      *out = v;
      return Status::Ok();
    }
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  return Invalid(key, "'" + v + "' is not one of " + list);
}

Status Config::CheckAllKeysUsed() const {
  // Walk every leaf; the first one in file order that nobody asked for is a mistake.
  const toml::node* first = nullptr;
  std::string first_key;
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& t, const std::string& prefix) {
        for (const auto& [k, v] : t) {
          const std::string path =
              prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
          if (const toml::table* sub = v.as_table()) {
            walk(*sub, path);
            continue;
          }
          if (impl_->used.count(path)) continue;
          if (!first || v.source().begin.line < first->source().begin.line) {
            first = &v;
            first_key = path;
          }
        }
      };
  walk(impl_->root, "");
  if (!first) return Status::Ok();
  return InvalidArgument(impl_->Where(first_key) + ": unknown setting");
}

}  // namespace isdas
