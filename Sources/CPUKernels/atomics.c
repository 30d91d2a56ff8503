// Atomic counters and flags for the CPU backend's workers (plain C11 builtins, any CPU): Swift 5 mode has no
// portable atomics without a package dependency.

#include "CPUKernels.h"

long fz_take_next(long *counter) { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

long fz_load_acquire(const long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

void fz_store_release(long *p, long value) { __atomic_store_n(p, value, __ATOMIC_RELEASE); }
