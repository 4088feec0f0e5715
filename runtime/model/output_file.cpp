#include "runtime/model/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loader/error.h"

namespace moevk {

FILE* open_output_file(const std::string& path, const std::string& what, const std::string& protect) {
  if (path.empty()) fail("{}: the path is empty", what);
  struct stat st{}, model{};
  const bool exists = lstat(path.c_str(), &st) == 0;
  if (exists) {
    if (S_ISLNK(st.st_mode)) fail("{} '{}' is a symbolic link; not writing through it", what, path);
    if (S_ISDIR(st.st_mode)) fail("{} '{}' is a directory", what, path);
    if (!protect.empty() && stat(protect.c_str(), &model) == 0 && model.st_dev == st.st_dev &&
        model.st_ino == st.st_ino)
      fail("{} '{}' is the model file; not overwriting it", what, path);
  }
  // O_NONBLOCK: opening a FIFO nobody reads fails (ENXIO) instead of waiting forever.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    if (e == ENXIO) fail("{} '{}' is a FIFO that nothing reads", what, path);
    if (e == ELOOP) fail("{} '{}' is a symbolic link; not writing through it", what, path);
    fail("cannot open {} '{}' for writing: {}", what, path, std::strerror(e));
  }
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    close(fd);
    fail("{} '{}' is not a regular file, a character device or a FIFO", what, path);
  }
  if (!protect.empty() && stat(protect.c_str(), &model) == 0 && model.st_dev == st.st_dev &&
      model.st_ino == st.st_ino) {
    close(fd);
    fail("{} '{}' is the model file; not overwriting it", what, path);
  }
  // Truncate only now, after every check (opening with O_TRUNC would have emptied the model).
  if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
    const int e = errno;
    close(fd);
    fail("cannot truncate {} '{}': {}", what, path, std::strerror(e));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FILE* f = fdopen(fd, "wb");
  if (!f) {
    const int e = errno;
    close(fd);
    fail("cannot open {} '{}' for writing: {}", what, path, std::strerror(e));
  }
  return f;
}

}  // namespace moevk
