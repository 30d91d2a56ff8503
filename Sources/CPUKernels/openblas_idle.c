// Start-up cost of the OpenBLAS thread pool.
//
// OpenBLAS (linked for the CPU backend's OpenBLAS path and `featurize bench-cpu`) starts one server thread per
// extra core in its library constructor, and each spins on sched_yield for about 2^28 TSC cycles (~0.1 s)
// waiting for work. The CPU backend runs OpenBLAS single-threaded (`openblas_set_num_threads(1)`), so that work
// never comes: on the 2-core VM the spinning thread cost ~0.1 s of CPU time per process, a third of a one-line
// `featurize extract`. This constructor runs right after OpenBLAS's (a shared library's constructors run before
// the executable's) and shuts the idle pool down with OpenBLAS's own fork-safety call; OpenBLAS starts the pool
// again by itself on the next `openblas_set_num_threads` call (checked: `openblas_set_num_threads(2)` then a
// 512^3 sgemm gives the same result and two threads; `featurize bench-cpu` does this). The symbol is weak: a process without OpenBLAS,
// or with an OpenBLAS that lacks the call, skips it. `FEATURIZE_OPENBLAS_POOL=keep` leaves the pool alone.

#include <stdlib.h>
#include <string.h>

extern int blas_thread_shutdown_(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));

__attribute__((constructor)) static void fz_stop_idle_openblas_pool(void) {
    if (!blas_thread_shutdown_ || !openblas_set_num_threads) return;
    const char *keep = getenv("FEATURIZE_OPENBLAS_POOL");
    if (keep && strcmp(keep, "keep") == 0) return;
    // One thread first (what the CPU backend sets anyway; `CPUBackend.init` then skips its own call, which
    // would restart a stopped pool), then stop the pool.
    openblas_set_num_threads(1);
    blas_thread_shutdown_();
}
