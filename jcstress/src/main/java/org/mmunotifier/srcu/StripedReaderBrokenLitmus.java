package org.mmunotifier.srcu;

import static org.mmunotifier.srcu.Litmus.LONGS;
import static org.mmunotifier.srcu.Litmus.NEW;
import static org.mmunotifier.srcu.Litmus.OLD;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.Z_Result;

/**
 * Deliberately broken variants of {@link StripedReaderLitmus}: each drops one ordering the real
 * code relies on. The outcome the correct test forbids is marked
 * {@code ACCEPTABLE_INTERESTING} here, so that a run passes and reports how often it was seen;
 * docs/testing.md records, per variant, whether it shows on x86 or is invisible there (x86 is
 * TSO: only a store followed by a load of another location can be reordered, by the store
 * buffer; a missing release or acquire alone cannot show, though the Java memory model and
 * weaker hardware allow the outcome). Outcomes impossible even for the broken code stay
 * {@code FORBIDDEN}.
 *
 * <p>Raw counter updates go through {@link Litmus.Striped#raw()} with opaque accesses: atomic
 * and never elided, but unordered with the thread's other accesses (Linux's
 * {@code this_cpu_inc} or {@code WRITE_ONCE} without a barrier).
 */
public final class StripedReaderBrokenLitmus {
    private StripedReaderBrokenLitmus() {
    }

    /**
     * {@link StripedReaderLitmus.ReadLockVsScan} with a scan that neither fences nor uses RMWs:
     * the real unlock sum then the real lock sum ({@link ReaderCounters#unlockSum},
     * {@link ReaderCounters#lockSum}: volatile reads, the right order), with no {@code fullFence}
     * and no {@code getAndAdd(0)}. Linux's {@code srcu_readers_active_idx_check} without A. The
     * updater's plain unpublish can wait in the store buffer while its loads of the lock counters
     * run: store buffering on the updater's side, visible on x86.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ScanWithoutFenceOrRmw {
        final Litmus.Striped d = new Litmus.Striped();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            d.srcu.readLock();
            r.r1 = published;
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            long unlocks = d.counters.unlockSum(0);
            long locks = d.counters.lockSum(0);
            r.r2 = Litmus.counted(locks == unlocks);
        }
    }

    /**
     * {@link StripedReaderLitmus.ReadLockVsScan} with a reader that counts in with an opaque
     * increment of its lock slot (no RMW, no fence) before its plain read: Linux's
     * {@code srcu_read_lock} without B. The scan is the real one. The reader's store can wait in
     * the store buffer while its load of the field runs: store buffering on the reader's side,
     * visible on x86.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReaderEntryWithoutFence {
        final Litmus.Striped d = new Litmus.Striped();
        final long[] raw = d.raw();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            int slot = Litmus.Striped.lockSlot(0, 0);
            LONGS.setOpaque(raw, slot, (long) LONGS.getOpaque(raw, slot) + 1);
            r.r1 = published;
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * {@link StripedReaderLitmus.ScanVsReaderInAndOut} with the scan's sums reversed: the real
     * lock sum, then the real unlock sum. Reader B, counted in after the lock sum passed its
     * stripe and out before the unlock sum reached its own, balances reader A, who is still
     * inside. Not a reordering but a window in the algorithm, so any hardware shows it when B
     * fits in the window (256 stripes make it a few hundred reads wide).
     */
    @JCStressTest
    @Outcome(id = "false", expect = ACCEPTABLE, desc = "the scan counted reader A")
    @Outcome(id = "true", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: the scan reported no reader while A was inside")
    @State
    public static class ScanLocksBeforeUnlocks {
        static final int STRIPES = StripedReaderLitmus.ScanVsReaderInAndOut.STRIPES;
        final ReaderCounters counters = new ReaderCounters(STRIPES);

        {
            counters.lock(0, 0); // reader A: inside before the updater begins, never leaves
        }

        @Actor
        public void readerB() {
            counters.lock(0, 0);
            counters.unlock(STRIPES - 1, 0);
        }

        @Actor
        public void updater(Z_Result r) {
            long locks = counters.lockSum(0);
            long unlocks = counters.unlockSum(0);
            r.r1 = locks == unlocks;
        }
    }

    /**
     * {@link StripedReaderLitmus.UpReadVsReclaim} with an unlock that is an opaque store (no
     * RMW, no release) after the section's plain read: Linux's {@code srcu_read_unlock} without
     * C. The reader counted in (the real {@link ReaderCounters#lock}) before the updater began;
     * the scan is the real one. The section's load and the unlock's store are a load then a
     * store, which x86 never reorders, so this stays invisible on x86; the Java memory model (no
     * happens-before from the read to the reclaim) and weaker hardware allow it.
     */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader left before the scan; reclaimed after its read")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the scan counted the reader: no reclaim")
    @Outcome(id = "3, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: the scan saw the reader gone, yet its section read the reclaimed state")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class UnlockWithoutRelease {
        final Litmus.Striped d = new Litmus.Striped();
        final long[] raw = d.raw();
        final Litmus.Obj obj = new Litmus.Obj();

        {
            d.counters.lock(0, 0);
        }

        @Actor
        public void reader(II_Result r) {
            r.r1 = obj.state;
            LONGS.setOpaque(raw, Litmus.Striped.unlockSlot(0, 0), 1L);
        }

        @Actor
        public void updater(II_Result r) {
            boolean gone = d.counters.readersGone(0);
            if (gone) {
                obj.state = Litmus.RECLAIMED;
            }
            r.r2 = Litmus.counted(gone);
        }
    }

    /**
     * {@link StripedReaderLitmus.FlipVsReader} with the flip an opaque store and no fences (no
     * E, no D), and no first scan (whose fence and RMWs would order the unpublish before the flip
     * anyway). The reader reads {@code ctrIdx} with an opaque load, then counts in with the real
     * {@link ReaderCounters#lock}. Outcome (b) of the correct test, the flip seen without the
     * unpublish before it, is message passing without release: two stores, then two loads, which
     * x86 keeps in order, so it stays invisible on x86. Outcome (a) is still prevented, by the
     * reader's lock RMW and the real scan.
     */
    @JCStressTest
    @Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "old index, old value; counted")
    @Outcome(id = "0, 2, 1", expect = ACCEPTABLE, desc = "old index, new value; counted")
    @Outcome(id = "0, 2, 0", expect = ACCEPTABLE, desc = "old index, new value; counted in after the scan")
    @Outcome(id = "1, 2, 0", expect = ACCEPTABLE, desc = "flipped index, new value")
    @Outcome(id = "1, 1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: saw the flip but not the unpublish made before it")
    @Outcome(id = "0, 1, 0", expect = FORBIDDEN, desc = "old index and value, missed by the scan (the store-buffering pair is intact here)")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class FlipWithoutFences {
        final ReaderCounters counters = new ReaderCounters();
        int ctrIdx;
        int published = OLD;

        @Actor
        public void reader(III_Result r) {
            int idx = (int) CTR_IDX.getOpaque(this) & 1;
            counters.lock(0, idx);
            r.r1 = idx;
            r.r2 = published;
        }

        @Actor
        public void updater(III_Result r) {
            published = NEW;
            CTR_IDX.setOpaque(this, 1);
            r.r3 = Litmus.counted(counters.readersGone(0));
        }

        private static final VarHandle CTR_IDX;

        static {
            try {
                CTR_IDX = MethodHandles.lookup().findVarHandle(FlipWithoutFences.class, "ctrIdx", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }
}
