// interrupt.cpp — see interrupt.h. The handler touches only a lock-free atomic and async-signal-safe calls
// (unlink through fileio_remove_temporaries_now, signal, raise): it may run on any thread at any moment.
#include "engine/interrupt.h"

#include <atomic>
#include <signal.h>

#include <csignal>
#include <cstdio>

#include "engine/fileio.h"

static std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be safe to set in a handler");

static void on_signal(int signal_number) {
    int expected = 0;
    if (g_signal.compare_exchange_strong(expected, signal_number)) return;  // the first: stop at the next step
    // The second: stop now. Whole files only: a temporary being written is removed, the final names are
    // untouched (every write renames a complete temporary). Then die of the signal, as the user asked.
    fileio_remove_temporaries_now();
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

void install_interrupt_handlers() {
    static bool installed = false;
    if (installed) return;
    installed = true;
    struct sigaction action = {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // a read or write in progress goes on after the handler returns
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

bool interrupt_requested() { return g_signal.load() != 0; }

int interrupt_signal() { return g_signal.load(); }

const char* interrupt_signal_name() {
    static char other[32];
    switch (g_signal.load()) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        default: std::snprintf(other, sizeof other, "signal %d", g_signal.load()); return other;
    }
}

void interrupt_request(int signal_number) { g_signal.store(signal_number); }
