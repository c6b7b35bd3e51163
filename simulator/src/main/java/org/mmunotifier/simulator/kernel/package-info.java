/**
 * The simulated primary MMU: {@link Kernel} runs the core-mm operations (spawn, fault, mmap,
 * munmap, mprotect, mremap, {@code MADV_DONTNEED}, migration, reclaim, {@code page_mkclean},
 * soft-dirty clearing, KSM merges, fork, exit, the OOM killer and its reaper) on a
 * {@link Process}'s areas
 * ({@link VmaList}) and page table ({@link PageTable}), over the physical frames of a
 * {@link FrameAllocator}, and raises the notifier calls for each, modelled on Linux 5.4.
 *
 * <p>The kernel touches the drivers in two places only: a process's files table holds their
 * device files, which exit closes (as {@code exit_files} does), and a fault made on a driver's
 * behalf returns its translation in the drivers' {@code Mirror} encoding. It carries the run's
 * checker for the drivers to report to, and counts what it does in the run's {@code Stats}.
 */
package org.mmunotifier.simulator.kernel;
