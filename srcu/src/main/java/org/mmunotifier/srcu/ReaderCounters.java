package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The read-side state of one SRCU domain: per-stripe lock and unlock counters for each of the two
 * indexes, and the scan that decides whether the readers of one index are gone.
 *
 * <pre>
 * Layout of {@code counts} (one stripe = 16 longs = 128 bytes, so two stripes never share a
 * cache line or an adjacent-line prefetch pair):
 *
 *   [ padding: 16 longs ][ stripe 0 ][ stripe 1 ] ... [ stripe S-1 ][ padding: 16 longs ]
 *
 *   stripe k, relative offset:  0: lock[0]   1: lock[1]   2: unlock[0]   3: unlock[1]   4..15: unused
 * </pre>
 *
 * <p>Every counter only ever grows (64 bits: no wrap analysis needed). A reader that locked on
 * stripe {@code s} may unlock on any stripe; only the sums over all stripes mean anything, as in
 * Linux's {@code srcu_readers_active_idx_check()}.
 *
 * <p>Guards: the counters are written only by {@link #lock} and {@link #unlock} (volatile RMW) and
 * by the scan's {@code getAndAdd(0)}; they need no lock. Stripes are handed out round robin when a
 * thread first reads, so two threads share a stripe only when there are more reading threads than
 * stripes (correct either way, merely slower).
 *
 * <p>Not final: the negative-control tests subclass it with a deliberately broken scan.
 */
class ReaderCounters {

    private static final int PAD = 16;
    private static final int LOCK = 0;
    private static final int UNLOCK = 2;
    private static final int MAX_STRIPES = 256;

    private final long[] counts;
    private final int mask;
    private final AtomicInteger nextStripe = new AtomicInteger();

    ReaderCounters() {
        this(defaultStripes());
    }

    ReaderCounters(int stripes) {
        if (stripes <= 0 || Integer.bitCount(stripes) != 1 || stripes > MAX_STRIPES) {
            throw new IllegalArgumentException("stripes must be a power of two in [1, " + MAX_STRIPES
                    + "], got " + stripes);
        }
        this.mask = stripes - 1;
        this.counts = new long[(stripes + 2) * PAD];
    }

    /** nextPow2(2 x CPUs), capped: enough that two running readers rarely share a line. */
    static int defaultStripes() {
        int cpus = Runtime.getRuntime().availableProcessors();
        int want = Math.max(2, 2 * cpus);
        int pow2 = Integer.highestOneBit(want - 1) << 1;
        return Math.min(MAX_STRIPES, Math.max(2, pow2));
    }

    int stripes() {
        return mask + 1;
    }

    /** A stripe for a newly seen reading thread. */
    int assignStripe() {
        return nextStripe.getAndIncrement() & mask;
    }

    private static int slot(int stripe, int kind, int idx) {
        return (stripe + 1) * PAD + kind + idx;
    }

    /**
     * Counts a reader in. Volatile RMW: it is the reader's half of the store-buffering pair with
     * {@link #readersGone}'s {@code getAndAdd(0)} on the same counter (docs/srcu.md,
     * "Memory-ordering argument", the case where this lock comes after the scan's RMW).
     */
    final void lock(int stripe, int idx) {
        COUNTS.getAndAdd(counts, slot(stripe, LOCK, idx), 1L);
    }

    /**
     * Counts a reader out. Volatile RMW: every access of the read section happens-before it, and
     * it synchronizes-with the scan's volatile read of this counter (docs/srcu.md,
     * "Memory-ordering argument", the case where the reader's lock comes before the scan).
     */
    final void unlock(int stripe, int idx) {
        COUNTS.getAndAdd(counts, slot(stripe, UNLOCK, idx), 1L);
    }

    /**
     * True when every reader counted in on {@code idx} before this scan has also been counted out.
     *
     * <p>Order matters: unlocks are summed first, then locks. A counted unlock implies an earlier
     * lock, and because the lock sums are read later in the synchronization order, that lock is
     * counted too; so equal sums cannot be faked by seeing an unlock without its lock. The lock
     * counters are read with {@code getAndAdd(0)}, a volatile write: a reader whose lock RMW comes
     * later in the synchronization order synchronizes-with it and so sees everything the updater
     * did before the scan (the retired pointer is unreachable to it).
     */
    boolean readersGone(int idx) {
        long unlocks = sum(UNLOCK, idx);
        betweenSums();
        VarHandle.fullFence(); // Pairs with the reader's lock RMW (the kernel's smp_mb "A" vs "B").
        long locks = 0;
        for (int s = 0; s <= mask; s++) {
            locks += (long) COUNTS.getAndAdd(counts, slot(s, LOCK, idx), 0L);
        }
        return locks == unlocks;
    }

    /** Sum of the lock counters of {@code idx} (volatile reads); for diagnostics and tests. */
    final long lockSum(int idx) {
        return sum(LOCK, idx);
    }

    /** Sum of the unlock counters of {@code idx} (volatile reads); for diagnostics and tests. */
    final long unlockSum(int idx) {
        return sum(UNLOCK, idx);
    }

    /** Test hook: runs between the two sums of a scan, so a test can place a racing reader there. */
    void betweenSums() {
    }

    private long sum(int kind, int idx) {
        long total = 0;
        for (int s = 0; s <= mask; s++) {
            total += (long) COUNTS.getVolatile(counts, slot(s, kind, idx));
        }
        return total;
    }

    /**
     * Readers currently inside a read section on either index: a racy estimate, exact when no
     * reader enters or leaves during the call. Used for diagnostics and {@code close()}.
     */
    final long activeReaders() {
        long active = 0;
        for (int idx = 0; idx < 2; idx++) {
            long unlocks = sum(UNLOCK, idx);
            long locks = sum(LOCK, idx);
            active += locks - unlocks;
        }
        return active;
    }

    // VarHandle mechanics
    private static final VarHandle COUNTS = MethodHandles.arrayElementVarHandle(long[].class);
}
