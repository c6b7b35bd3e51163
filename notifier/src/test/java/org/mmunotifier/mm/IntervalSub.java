package org.mmunotifier.mm;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Test support: an interval subscription that records each invalidation it receives, calls
 * {@link #setSeq} with the callback's sequence (as a driver must), and reports a violation when a
 * callback reaches it after its {@link #remove()} has returned.
 */
class IntervalSub extends MmuIntervalNotifier {
    final String name;
    final AtomicInteger calls = new AtomicInteger();
    final List<String> log = new ArrayList<>();
    final List<String> violations = new ArrayList<>();
    /** Set right after remove() returned: from then on no callback may arrive. */
    volatile boolean removeReturned;

    IntervalSub(String name) {
        this.name = name;
    }

    /**
     * The recording callback; {@code behaviour} decides the answer (and may do more). On a plain
     * {@link MmuIntervalNotifier} it only sets the sequence.
     */
    static MmuIntervalNotifierOps ops(Behaviour behaviour) {
        return (sub, range, curSeq) -> {
            if (!(sub instanceof IntervalSub s)) { // a plain subscription: only the driver's duty
                sub.setSeq(curSeq);
                return true;
            }
            if (s.removeReturned) {
                s.violation("invalidate after remove returned: " + range);
            }
            s.calls.incrementAndGet();
            s.log(range.event() + " " + Long.toHexString(range.start()) + "-" + Long.toHexString(range.end())
                    + " seq " + curSeq);
            return behaviour.answer(s, range, curSeq);
        };
    }

    /** Records and sets the sequence, then answers true. */
    static final MmuIntervalNotifierOps RECORDING = ops((s, range, curSeq) -> {
        s.setSeq(curSeq);
        return true;
    });

    @FunctionalInterface
    interface Behaviour {
        boolean answer(IntervalSub sub, MmuNotifierRange range, long curSeq);
    }

    synchronized void log(String what) {
        log.add(what);
    }

    synchronized List<String> logSnapshot() {
        return new ArrayList<>(log);
    }

    synchronized void violation(String what) {
        violations.add(what);
    }

    synchronized List<String> violationsSnapshot() {
        return new ArrayList<>(violations);
    }

    /** remove(), then mark it returned. */
    void removeAndMark() {
        remove();
        removeReturned = true;
    }

    @Override
    public String toString() {
        return "IntervalSub(" + name + ")";
    }

    /** The mm's interval state (package-private). */
    static Itree itree(MmStruct mm) {
        return mm.subscriptions.itree;
    }

    static MmuNotifierRange span(MmStruct mm, long start, long end) {
        return new MmuNotifierRange(mm, start, end, MmuNotifierEvent.UNMAP);
    }
}
