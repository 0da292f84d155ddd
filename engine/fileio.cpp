// fileio.cpp — see fileio.h. POSIX calls (open, write, fsync, rename, mmap) with every return checked.
#include "engine/fileio.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
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

// ---- the temporaries in progress, for a second signal's handler -------------------------------------
// A fixed table of C strings, because the handler may neither allocate nor take a lock. A slot is claimed
// (1), filled, then published (2); the handler unlinks only published slots.
struct TemporarySlot {
    std::atomic<int> state{0};  // 0 free, 1 being filled, 2 published
    char path[4096];
};
static TemporarySlot g_temporaries[16];

static int register_temporary(const std::string& temp_path) {
    if (temp_path.size() >= sizeof(g_temporaries[0].path)) return -1;
    for (int i = 0; i < 16; i++) {
        int expected = 0;
        if (!g_temporaries[i].state.compare_exchange_strong(expected, 1)) continue;
        std::memcpy(g_temporaries[i].path, temp_path.c_str(), temp_path.size() + 1);
        g_temporaries[i].state.store(2);
        return i;
    }
    return -1;  // more than 16 writers at once: a second signal leaves this one's temporary to the next run
}

static void unregister_temporary(int slot) {
    if (slot >= 0) g_temporaries[slot].state.store(0);
}

void fileio_remove_temporaries_now() {
    for (TemporarySlot& slot : g_temporaries) {
        if (slot.state.load() == 2) ::unlink(slot.path);
    }
}

// ---- simulated failures (tests) ----------------------------------------------------------------------
struct WriteFault {
    bool armed = false;
    long long bytes_left = 0;
    int error_number = 0;
    WriteStage stage = WriteStage::Write;
};
static WriteFault g_fault;

void fileio_fail_writes_after(long long bytes, int error_number, WriteStage stage) {
    g_fault = WriteFault{true, bytes, error_number, stage};
}

void fileio_stop_failing_writes() { g_fault = WriteFault{}; }

// Counts `bytes` against the budget; true (errno set) when this write must fail.
static bool injected_write_failure(size_t bytes) {
    if (!g_fault.armed || g_fault.stage != WriteStage::Write) return false;
    if ((long long)bytes <= g_fault.bytes_left) {
        g_fault.bytes_left -= (long long)bytes;
        return false;
    }
    errno = g_fault.error_number;
    return true;
}

static bool injected_commit_failure(WriteStage stage) {
    if (!g_fault.armed || g_fault.stage != stage || g_fault.bytes_left > 0) return false;
    errno = g_fault.error_number;
    return true;
}

// write() of all `bytes`, retried after EINTR and short writes; false with errno set on failure.
static bool write_all(int fd, const void* data, size_t bytes) {
    if (injected_write_failure(bytes)) return false;
    if (g_fault.armed && g_fault.stage != WriteStage::Write) g_fault.bytes_left -= (long long)bytes;
    const char* next = (const char*)data;
    while (bytes > 0) {
        ssize_t wrote = ::write(fd, next, bytes);
        if (wrote < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        next += wrote;
        bytes -= (size_t)wrote;
    }
    return true;
}

// ---- atomic writes -------------------------------------------------------------------------------------
// The message of a failed write: the final name (what the user knows), the cause, and what is left.
static std::string write_failure(const std::string& what, const std::string& why) {
    return what + " (" + why + "); the file keeps its previous contents, no temporary file is left";
}

AtomicWriter::AtomicWriter(const std::string& final_path) : path(final_path), temp_path(temporary_name(final_path)) {
    remove_dead_writers_temporaries(final_path);
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot create its temporary file " + temp_path + " (" + errno_text() + ")");
    slot = register_temporary(temp_path);
}

AtomicWriter::~AtomicWriter() {
    if (committed) return;
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
    unregister_temporary(slot);
}

void AtomicWriter::write(const void* data, size_t bytes) {
    if (committed) fail(path, "write after commit");
    if (!write_all(fd, data, bytes)) fail(path, write_failure("write failed", errno_text()));
}

// SAPT_SLOW_COMMIT_MS=N (fileio.h): the whole temporary is on disk, not yet renamed; wait N ms here.
static void wait_as_a_slow_disk() {
    static const long milliseconds = [] {
        const char* text = std::getenv("SAPT_SLOW_COMMIT_MS");
        return text ? std::strtol(text, nullptr, 10) : 0L;
    }();
    if (milliseconds <= 0) return;
    struct timespec wait = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (::nanosleep(&wait, &wait) != 0 && errno == EINTR) {
    }
}

void AtomicWriter::commit() {
    if (committed) fail(path, "committed twice");
    // fsync and close report what the page cache hid from write(): EIO, and ENOSPC / EDQUOT on NFS.
    if (injected_commit_failure(WriteStage::Fsync) || ::fsync(fd) != 0) {
        fail(path, write_failure("fsync failed", errno_text()));
    }
    int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail(path, write_failure("close failed", errno_text()));
    wait_as_a_slow_disk();
    if (injected_commit_failure(WriteStage::Rename) || ::rename(temp_path.c_str(), path.c_str()) != 0) {
        fail(path, write_failure("cannot rename " + temp_path + " over it", errno_text()));
    }
    committed = true;
    unregister_temporary(slot);
    std::string directory = parent_directory(path);
    int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

void append_to_file(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot open for appending (" + errno_text() + ")");
    // O_APPEND: one write() lands at the end as a whole line even with another writer (until the disk is full,
    // when a short line may be left: the reader of a log skips a torn last line).
    const bool wrote = write_all(fd, text.data(), text.size());
    std::string why = errno_text();
    const bool closed = ::close(fd) == 0;
    if (!closed && wrote) why = errno_text();
    if (!wrote || !closed) fail(path, "cannot append (" + why + ")");
}

FileLock::FileLock(const std::string& path, const std::string& waiting_message) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot create the lock file (" + errno_text() + ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
    if (errno == ENOLCK || errno == EOPNOTSUPP) {  // a file system without locks (some NFS): go on unlocked, the
        ::close(fd);                                // atomic renames still leave whole files
        fd = -1;
        return;
    }
    if (errno == EWOULDBLOCK && !waiting_message.empty()) std::fprintf(stderr, "%s\n", waiting_message.c_str());
    while (::flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        std::string why = errno_text();
        ::close(fd);
        fd = -1;
        fail(path, "cannot lock (" + why + ")");
    }
}

FileLock::~FileLock() {
    if (fd >= 0) ::close(fd);  // closing the descriptor releases the lock
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
