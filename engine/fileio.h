// fileio.h — the few file operations every module shares: read a whole file, write one atomically
// (a crash mid-write never leaves a half-written checkpoint under the real name), and map one into
// memory read-only-for-the-file (RAII). Every failure throws sapt_error naming the path and the errno text.
// Not here: any file format (safetensors.h, the tokenizer and data loaders parse their own).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

// The whole file as bytes.
std::string read_file(const std::string& path);

// Every failure of a write (ENOSPC, EIO, EROFS, EDQUOT, ...) throws sapt_error naming the final file and
// the cause, after removing the temporary file: the file keeps its previous contents.

// Writes `path` so that readers see either the old file or the complete new one: the bytes go to
// path + ".tmp", which is fsync'ed, renamed over `path`, and the directory is fsync'ed so the rename
// itself survives a power cut.
void atomic_write_file(const std::string& path, const std::string& bytes);

// The same protocol for files too large to build in memory first (checkpoints): open, write pieces,
// commit. Destroying an uncommitted writer removes the temporary file and leaves `path` untouched.
struct AtomicWriter {
    std::string path;       // the final name
    std::string temp_path;  // "<path>.<pid>.<n>.tmp", unique to this writer
    int fd = -1;
    bool committed = false;
    int slot = -1;          // its entry in the table fileio_remove_temporaries_now reads

    explicit AtomicWriter(const std::string& path);
    ~AtomicWriter();
    AtomicWriter(const AtomicWriter&) = delete;
    AtomicWriter& operator=(const AtomicWriter&) = delete;

    void write(const void* data, size_t bytes);
    void commit();  // fsync, rename over `path`, fsync the directory
};

// A file mapped into memory. The mapping is private copy-on-write: a tensor viewing it may be written
// (the write stays in this process and never reaches the file), reading costs no copy. Tensors that
// view the mapping hold a shared_ptr<MappedFile>, so it lives as long as the last of them.
struct MappedFile {
    std::string path;
    uint8_t* data = nullptr;  // null for an empty file
    size_t size = 0;

    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
};

std::shared_ptr<MappedFile> map_file(const std::string& path);

// Appends `text` to `path` (created when absent) with one checked write: a log that cannot grow is an
// error naming the file and the cause, not a silently shorter log.
void append_to_file(const std::string& path, const std::string& text);

// An exclusive advisory lock (flock) on `path` (created when absent), held until the object dies; the kernel
// drops it when the process ends, kill -9 included. When another process holds it, `waiting_message` (if any)
// goes to stderr and the constructor waits. On a file system without locks (ENOLCK) it holds nothing.
struct FileLock {
    int fd = -1;
    explicit FileLock(const std::string& path, const std::string& waiting_message = "");
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
};

// Removes the temporary files of the writers now in progress in this process; async-signal-safe (only
// unlink), for the second SIGINT / SIGTERM (interrupt.h), which then ends the process.
void fileio_remove_temporaries_now();

// Tests only, for another process: with SAPT_SLOW_COMMIT_MS=N in its environment, every AtomicWriter commit
// waits N ms between its complete temporary and the rename (a slow disk), so that a test can send a signal
// to a ./train at the moment a temporary exists (tests/test_reliability_signals.cpp).
// Tests only: a simulated full or failing disk. After `bytes` more bytes have gone through AtomicWriter and
// append_to_file, the operation at `stage` fails with `error_number` (ENOSPC, EIO, EROFS, EDQUOT), and so does
// every later one until fileio_stop_failing_writes(): a full disk stays full. Stage Write fails the write()
// that would cross the budget; Fsync and Rename fail the next commit at that point (EIO often appears only
// at fsync; EROFS at rename).
enum class WriteStage { Write, Fsync, Rename };
void fileio_fail_writes_after(long long bytes, int error_number, WriteStage stage = WriteStage::Write);
void fileio_stop_failing_writes();
