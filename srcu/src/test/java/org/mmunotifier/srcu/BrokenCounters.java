package org.mmunotifier.srcu;

/**
 * Negative controls: reader counters whose scan is deliberately wrong, so that the checks that
 * must catch a broken grace period can be shown to fail.
 */
final class BrokenCounters {
    private BrokenCounters() {
    }

    /** A scan that never waits: every grace period ends at once (no reader is ever waited for). */
    static ReaderCounters neverWaits() {
        return new ReaderCounters() {
            @Override
            boolean readersGone(int idx) {
                return true;
            }
        };
    }

    /**
     * A scan that sums locks before unlocks (the order reversed). A reader counted out by the later
     * unlock sum but not counted in by the earlier lock sum cancels a reader that is still inside,
     * so the sums can be equal while a pre-existing reader is still in its section.
     * {@code between} runs between the two sums, where a racing reader can be placed.
     */
    static ReaderCounters locksBeforeUnlocks(Runnable between) {
        return new ReaderCounters(1) {
            @Override
            boolean readersGone(int idx) {
                long locks = lockSum(idx);
                between.run();
                long unlocks = unlockSum(idx);
                return locks == unlocks;
            }
        };
    }

    /**
     * A registry that drops a dead thread's slot without folding its counts: a thread that died
     * inside a section no longer counts, so grace periods would end although it never left.
     */
    static ReaderCounters dropsDeadSlots() {
        return new ReaderCounters() {
            @Override
            boolean foldsRetiredCounts() {
                return false;
            }
        };
    }

    /**
     * A registry that takes every slot's owner for dead (as a pruning by idleness, or a weakly
     * held slot, would) and drops it: a live reader inside a section is no longer waited for.
     */
    static ReaderCounters prunesLiveSlots() {
        return new ReaderCounters() {
            @Override
            boolean ownerTerminated(Slot s) {
                return true;
            }

            @Override
            boolean foldsRetiredCounts() {
                return false;
            }
        };
    }

    static Srcu domain(String name, ReaderCounters counters) {
        return new Srcu(Srcu.builder(name), counters);
    }

    /**
     * A domain of {@code flavour} over {@code counters}. FENCE_FREE where the platform lacks it
     * gets a full fence on the updater as its heavy barrier: enough for single-threaded checks,
     * not a sound reader (tests that race readers assume {@link #fenceFreeAvailable()}).
     */
    static Srcu domain(String name, ReaderCounters counters, ReaderFlavour flavour) {
        if (flavour == ReaderFlavour.FENCE_FREE && !fenceFreeAvailable()) {
            return new Srcu(Srcu.builder(name).fenceFreeWithBarrier(java.lang.invoke.VarHandle::fullFence), counters);
        }
        return new Srcu(Srcu.builder(name).readerFlavour(flavour), counters);
    }

    /** @return whether this JVM runs the real fence-free reader (membarrier registered, HotSpot, no JVMCI) */
    static boolean fenceFreeAvailable() {
        return FenceFreeSupport.blocker() == null;
    }
}
