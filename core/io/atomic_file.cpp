#include "core/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/kill_point.h"

namespace inq {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")");
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Writes everything, retrying on short writes and EINTR. Returns 0 or an errno value.
int write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return 0;
}

// Makes the rename itself durable. Some file systems cannot fsync a directory (EINVAL);
// the data is already safe on disk then, so that case is not an error.
void sync_dir(const std::string& path) {
  const std::string dir = parent_dir(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open directory " + dir + " to sync it", errno);
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(fd);
    fail(path, "fsync of directory " + dir + " failed", err);
  }
  ::close(fd);
}

// Removes PATH.tmp.<pid> files left by writers that were killed (SIGKILL, power loss): they
// would pile up on every kill, and on a full disk they hold the space the next write needs.
// A temp file of a process still alive (another writer of the same path) is left alone.
void remove_stale_temps(const std::string& path) {
  const std::string dir = parent_dir(path);
  const size_t slash = path.find_last_of('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;  // the open below reports a missing directory with its errno
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (end == name.c_str() + prefix.size() || *end != '\0' || pid <= 0) continue;
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t bytes) {
  if (path.empty()) throw std::runtime_error("write_file_atomic: empty path");
  remove_stale_temps(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(path, "cannot create temporary file " + tmp, errno);

  // From here on, every failure removes the temp file; `path` itself is only touched by rename.
  auto abandon = [&](const std::string& what, int err, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, what, err);
  };
  // Kill points (core/kill_point.h) at every step, so tests can stop here at the worst moments.
  const size_t half = bytes / 2;
  if (const int err = write_all(fd, data, half)) abandon("write to " + tmp + " failed", err, true);
  kill_point("atomic_write_half");
  if (const int err = write_all(fd, static_cast<const char*>(data) + half, bytes - half))
    abandon("write to " + tmp + " failed", err, true);
  if (::fsync(fd) != 0) abandon("fsync of " + tmp + " failed", errno, true);
  if (::close(fd) != 0) abandon("close of " + tmp + " failed", errno, false);
  kill_point("atomic_write_before_rename");
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("rename from " + tmp + " failed", errno, false);
  kill_point("atomic_write_after_rename");
  sync_dir(path);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, "cannot stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(path, "cannot read", EISDIR);
  }
  std::string out;
  if (st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  // Read to EOF rather than trusting st_size (pipes and /proc files report 0).
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(path, "read failed", err);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace inq
