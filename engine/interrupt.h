// interrupt.h — what Ctrl-C (SIGINT) and a scheduler's SIGTERM do to a run. The first signal only raises a
// flag: the training loop finishes its optimizer step, writes a checkpoint and returns, and ./train exits with
// 128 + the signal number and a line saying how to resume. A second signal stops the process at once: the
// temporary file of a write in progress is removed first (fileio.h), so only whole files are left.
// Not here: where the loop looks at the flag (sapt/trainer.cpp, sapt/continual.cpp, train.cpp).
#pragma once

// Installs the SIGINT and SIGTERM handlers (once per process; later calls do nothing).
void install_interrupt_handlers();

// True once a first SIGINT or SIGTERM arrived (or interrupt_request was called).
bool interrupt_requested();

// The signal that set the flag (SIGINT 2, SIGTERM 15), 0 when none.
int interrupt_signal();

// "SIGINT" / "SIGTERM" / "signal N" for messages.
const char* interrupt_signal_name();

// Sets the flag as a signal would, without sending one (tests); 0 clears it again.
void interrupt_request(int signal_number);
