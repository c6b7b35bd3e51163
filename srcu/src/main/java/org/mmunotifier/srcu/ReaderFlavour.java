package org.mmunotifier.srcu;

/**
 * How a domain's readers count themselves in and out; {@link Srcu#flavour()} says which one a
 * domain runs, and why. Every flavour gives the same guarantees; they differ in what a read pair
 * costs and where that cost goes (docs/srcu.md, "Reader flavours").
 */
public enum ReaderFlavour {
    /**
     * The default where {@link #FENCE_FREE} is not available. A platform thread counts in on a
     * slot of its own (one per domain) with a single volatile store, its one full fence, followed
     * by a volatile read of the grace-period sequence; it counts out with a release store and no
     * fence. Virtual threads and {@link Srcu#downRead()}/{@link Srcu#upRead(int)} sections use
     * the striped counters of {@link #TWO_RMW}, so that no per-thread state outlives a virtual
     * thread.
     */
    ONE_FENCE,

    /**
     * The default where the platform allows it: Linux (x86-64 or AArch64), JDK 22 or later,
     * HotSpot with its own compilers (no JVMCI compiler), native access enabled for this library
     * and {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)} registered. A platform thread
     * counts in on its slot with an opaque store and out with a release store: no fence at all.
     * The updater pays instead: every scan first issues the membarrier system call, which runs a
     * full barrier on every CPU that runs a thread of this process (about a microsecond or a few).
     * Virtual threads and cross-thread sections use the striped counters, as in
     * {@link #ONE_FENCE}.
     */
    FENCE_FREE,

    /**
     * Striped lock and unlock counters shared by all threads: a read-modify-write to count in and
     * another to count out (what Linux's Tree SRCU pays: two full barriers). No per-thread
     * registration. Used by virtual threads and cross-thread sections in every domain; a whole
     * domain runs it only when built so internally (for tests and comparison).
     */
    TWO_RMW
}
