package org.mmunotifier.benchmarks;

import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;

/**
 * The driver the notifier benchmarks register: trivial {@code invalidateRangeStart}/{@code End}
 * callbacks that each increment one plain counter, so that the callbacks are not dead code and
 * both the library and the open-coded registry pay exactly the same for them.
 *
 * <p>Every benchmark thread uses its own {@link #range range}, whose {@code start} encodes the
 * thread's slot; the callbacks count in that slot of the notifier's counter array, slots 128
 * bytes apart. So at 2 threads the callbacks never write a cache line that the other thread
 * writes: the benchmark measures dispatch, not false sharing of the driver's counters.
 *
 * <p>One instance per (driver, mm) key: {@link MmuNotifiers#get} and the open-coded registry are
 * keyed by the ops' identity, so N notifiers on one mm need N ops instances (all of this one
 * class, so every dispatch call site stays monomorphic, as with one real driver).
 */
final class NotifierBenchOps implements MmuNotifierOps<NotifierBenchOps.Counting> {
    /*
     * Guards
     * ------
     *   allocated   written by allocNotifier, i.e. under the mmap write lock of the mm it is
     *               called for; read by the thread that set the benchmark up or tears it down
     *               after every get/put of the trial (JMH's trial barriers order them)
     *   freed       written by freeNotifier, on the notifier SRCU domain's callback thread, one
     *               callback at a time; read after MmuNotifiers.synchronize(), whose barrier makes
     *               every free queued before it happen-before its return
     */

    /** Most thread slots counted apart; more threads share slots (still correct, just shared). */
    static final int SLOTS = 8;
    /** Longs between two slots: 128 bytes, two cache lines (adjacent-line prefetch). */
    static final int STRIDE = 16;
    /** Keeps slot 0 away from the array header, which every thread reads (length, bounds check). */
    static final int PAD = 16;
    /** Counter array length: PAD + SLOTS * STRIDE + PAD. */
    static final int COUNTS = PAD + SLOTS * STRIDE + PAD;
    /** A range's start is {@code (slot << SLOT_SHIFT) + PAGE}. */
    static final int SLOT_SHIFT = 32;
    static final long PAGE = 4096;

    /** Whether notifiers from {@link #allocNotifier} carry counters (false: no event may be sent). */
    private final boolean countCallbacks;
    long allocated;
    long freed;

    /**
     * @param countCallbacks true for the dispatch benchmark; false for the get/put benchmarks,
     *     which send no event and should allocate a small notifier (no 1.3 KB counter array)
     */
    NotifierBenchOps(boolean countCallbacks) {
        this.countCallbacks = countCallbacks;
    }

    /**
     * A thread's range on {@code mm}: blockable, one page, {@link MmuNotifierEvent#UNMAP}, its
     * start tagged with the thread's slot.
     */
    static MmuNotifierRange range(MmStruct mm, int threadIndex) {
        long start = ((long) (threadIndex % SLOTS) << SLOT_SHIFT) + PAGE;
        return new MmuNotifierRange(mm, start, start + PAGE, MmuNotifierEvent.UNMAP, true);
    }

    private static int slot(MmuNotifierRange range) {
        return PAD + (int) (range.start() >>> SLOT_SHIFT) * STRIDE;
    }

    @Override
    public boolean invalidateRangeStart(Counting mn, MmuNotifierRange range) {
        mn.counts[slot(range)]++;
        return true;
    }

    @Override
    public void invalidateRangeEnd(Counting mn, MmuNotifierRange range) {
        mn.counts[slot(range) + 1]++;
    }

    @Override
    public Counting allocNotifier(MmStruct mm) {
        allocated++;
        return new Counting(countCallbacks ? new long[COUNTS] : NO_COUNTS);
    }

    @Override
    public void freeNotifier(Counting mn) {
        freed++;
    }

    private static final long[] NO_COUNTS = {};

    /** The driver's notifier: per-thread start and end counters. */
    static final class Counting extends MmuNotifier {
        /** Slot s: starts at {@code PAD + s * STRIDE}, ends right after; empty if not counting. */
        final long[] counts;

        /** For {@link NotifierBenchOps#allocNotifier} (the library's get sets the ops). */
        Counting(long[] counts) {
            this.counts = counts;
        }

        /** For the open-coded registry, which never registers with the library: counting. */
        Counting(NotifierBenchOps ops) {
            super(ops);
            this.counts = new long[COUNTS];
        }

        long starts() {
            long n = 0;
            for (int s = 0; s < SLOTS && counts.length != 0; s++) {
                n += counts[PAD + s * STRIDE];
            }
            return n;
        }

        long ends() {
            long n = 0;
            for (int s = 0; s < SLOTS && counts.length != 0; s++) {
                n += counts[PAD + s * STRIDE + 1];
            }
            return n;
        }
    }
}
