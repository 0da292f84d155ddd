// fileio.cpp — see fileio.h. POSIX calls (open, write, fsync, rename, mmap) with every return checked.
#include "engine/fileio.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"

static std::string errno_text() { return std::strerror(errno); }

// The directory that holds `path` ("." for a bare file name), whose entry the rename changes.
static std::string parent_directory(const std::string& path) {
    size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(path, "cannot open for reading (" + errno_text() + ")");
    std::string bytes;
    char chunk[1 << 16];
    while (true) {
        ssize_t got = ::read(fd, chunk, sizeof(chunk));
        if (got < 0) {
            if (errno == EINTR) continue;
            std::string why = errno_text();
            ::close(fd);
            fail(path, "read failed (" + why + ")");
        }
        if (got == 0) break;
        bytes.append(chunk, (size_t)got);
    }
    ::close(fd);
    return bytes;
}

// "<path>.<pid>.<n>.tmp": two processes (two ./train sharing runs/builtin_data) or two writers in one process
// writing the same file each get their own temporary, so neither renames the other's half-written one.
static std::string temporary_name(const std::string& final_path) {
    static std::atomic<unsigned long> next_writer{0};
    return final_path + "." + std::to_string((long)::getpid()) + "." + std::to_string(next_writer++) + ".tmp";
}

// Removes the temporaries of `final_path` whose writer process no longer exists (killed mid-write: kill -9
// runs no destructor). A live process's temporary is never touched; a name that does not parse is left.
static void remove_dead_writers_temporaries(const std::string& final_path) {
    const std::string directory = parent_directory(final_path);
    const size_t slash = final_path.find_last_of('/');
    const std::string prefix = (slash == std::string::npos ? final_path : final_path.substr(slash + 1)) + ".";
    DIR* d = ::opendir(directory.c_str());
    if (!d) return;  // the open below reports a missing directory
    while (dirent* entry = ::readdir(d)) {
        const std::string name = entry->d_name;
        if (name.size() <= prefix.size() + 4 || name.compare(0, prefix.size(), prefix) != 0 ||
            name.compare(name.size() - 4, 4, ".tmp") != 0) {
            continue;
        }
        char* end = nullptr;
        const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
        if (end == name.c_str() + prefix.size() || *end != '.' || pid <= 0 || pid == (long)::getpid()) continue;
        if (::kill((pid_t)pid, 0) != 0 && errno == ESRCH) ::unlink((directory + "/" + name).c_str());
    }
    ::closedir(d);
}

AtomicWriter::AtomicWriter(const std::string& final_path) : path(final_path), temp_path(temporary_name(final_path)) {
    remove_dead_writers_temporaries(final_path);
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail(temp_path, "cannot create (" + errno_text() + ")");
}

AtomicWriter::~AtomicWriter() {
    if (committed) return;
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
}

void AtomicWriter::write(const void* data, size_t bytes) {
    if (committed) fail(path, "write after commit");
    const char* next = (const char*)data;
    while (bytes > 0) {
        ssize_t wrote = ::write(fd, next, bytes);
        if (wrote < 0) {
            if (errno == EINTR) continue;
            fail(temp_path, "write failed (" + errno_text() + ")");
        }
        next += wrote;
        bytes -= (size_t)wrote;
    }
}

void AtomicWriter::commit() {
    if (committed) fail(path, "committed twice");
    if (::fsync(fd) != 0) fail(temp_path, "fsync failed (" + errno_text() + ")");
    int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail(temp_path, "close failed (" + errno_text() + ")");
    if (::rename(temp_path.c_str(), path.c_str()) != 0) {
        fail(path, "cannot rename " + temp_path + " over it (" + errno_text() + ")");
    }
    committed = true;
    std::string directory = parent_directory(path);
    int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) fail(directory, "cannot open directory to fsync it (" + errno_text() + ")");
    int synced = ::fsync(dir_fd);
    std::string why = errno_text();
    ::close(dir_fd);
    if (synced != 0) fail(directory, "fsync of directory failed (" + why + ")");
}

void atomic_write_file(const std::string& path, const std::string& bytes) {
    AtomicWriter writer(path);
    writer.write(bytes.data(), bytes.size());
    writer.commit();
}

MappedFile::MappedFile(const std::string& file_path) : path(file_path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(path, "cannot open for reading (" + errno_text() + ")");
    struct stat info;
    if (::fstat(fd, &info) != 0) {
        std::string why = errno_text();
        ::close(fd);
        fail(path, "cannot stat (" + why + ")");
    }
    if (!S_ISREG(info.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    size = (size_t)info.st_size;
    if (size > 0) {
        // PROT_WRITE with MAP_PRIVATE: pages are shared with the page cache until someone writes one,
        // which then gets a private copy. The file itself can never change through this mapping.
        void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (mapped == MAP_FAILED) {
            std::string why = errno_text();
            ::close(fd);
            fail(path, "mmap failed (" + why + ")");
        }
        data = (uint8_t*)mapped;
    }
    ::close(fd);  // the mapping stays valid after the descriptor is closed
}

MappedFile::~MappedFile() {
    if (data) ::munmap(data, size);
}

std::shared_ptr<MappedFile> map_file(const std::string& path) { return std::make_shared<MappedFile>(path); }
