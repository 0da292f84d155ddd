// error.cpp — see error.h.
#include "engine/error.h"

void fail(const std::string& where, const std::string& what) { throw sapt_error(where + ": " + what); }
