// Writing files so that a crash or a failed run never leaves a half-written file behind:
// write to PATH.tmp.<pid> in the same directory, fsync it, rename over PATH, fsync the directory.
// A kill at any instruction leaves PATH old or new, never torn; temp files of writers that died
// (no such pid on this machine) are removed by the next write of PATH. Failures throw
// std::runtime_error naming PATH, the step and the errno ("No space left on device (errno 28)"),
// with PATH untouched and the temp file removed.
#pragma once
#include <string>

namespace inq {

void write_file_atomic(const std::string& path, const void* data, size_t bytes);
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);  // throws std::runtime_error naming the path

}  // namespace inq
